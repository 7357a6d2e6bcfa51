// Messages between the page and the engine worker. The worker runs the same fetch handler as
// `llamats serve`, so besides loading, the protocol is just "a Request in, a Response out".

export type ModelOrigin =
  /** A File from the picker, read in slices. */
  | "file"
  /** A complete copy in the Origin Private File System: no download. */
  | "cache"
  /** Downloaded into the OPFS cache during this load. */
  | "network"
  /** Read with range requests on demand (no OPFS, or no room in it). */
  | "range";

export interface LoadRequest {
  readonly from: { readonly url: string } | { readonly file: File };
  /** Threads including the engine worker's own; more than one needs cross-origin isolation. */
  readonly threads: number;
  readonly backend: "auto" | "wasm" | "ref";
  readonly contextSize?: number;
  /** Keep downloaded models in the OPFS (default true). */
  readonly cache?: boolean;
}

export interface LoadedInfo {
  readonly modelId: string;
  readonly name: string;
  readonly bytes: number;
  readonly origin: ModelOrigin;
  readonly backend: string;
  readonly threads: number;
  /** Pool workers started for the WASM kernels (threads − 1). */
  readonly poolWorkers: number;
  readonly crossOriginIsolated: boolean;
  readonly layers: number;
  readonly contextSize: number;
  readonly loadMs: number;
  /** Why the WASM backend was not used, when it was not. */
  readonly fallback?: string;
}

export interface Progress {
  readonly phase: "download" | "load";
  readonly done: number;
  readonly total: number;
}

export type ToWorker =
  | { type: "load"; id: number; req: LoadRequest }
  | { type: "fetch"; id: number; url: string; method: string; headers: [string, string][]; body?: string }
  | { type: "abort"; id: number }
  | { type: "clear-cache"; id: number };

export type FromWorker =
  | { type: "progress"; id: number; progress: Progress }
  | { type: "loaded"; id: number; info: LoadedInfo }
  | { type: "cleared"; id: number; files: number }
  | { type: "response"; id: number; status: number; statusText: string; headers: [string, string][] }
  | { type: "chunk"; id: number; bytes: Uint8Array }
  | { type: "end"; id: number }
  | { type: "error"; id: number; message: string };
