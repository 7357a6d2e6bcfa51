// The chat page's routes: `/` (index.html), `/static/<file>` (bundle, worker scripts, kernels,
// stylesheet) and `/model.gguf` (the loaded model, with Range, for running it in the browser).
// Asset bytes come from a store the runtime adapter provides, so this file stays web-standard.

import { GgufFile } from "../format/gguf.ts";
import { rangeResponse, sourceEtag } from "./range.ts";
import type { Engine } from "./openai.ts";

export interface StaticAsset {
  readonly bytes: Uint8Array;
  readonly type: string;
}

export interface StaticAssets {
  /** A file of the built page by its plain name (`index.html`, `main.js`), or undefined. */
  get(name: string): Promise<StaticAsset | undefined>;
}

/**
 * SharedArrayBuffer (threaded WASM) needs a cross-origin isolated page, and a dedicated worker
 * is isolated only when its own script says so too, so every page resource carries these.
 */
export const ISOLATION_HEADERS: Readonly<Record<string, string>> = {
  "cross-origin-opener-policy": "same-origin",
  "cross-origin-embedder-policy": "require-corp",
  "cross-origin-resource-policy": "same-origin",
};

export const ASSET_NAME = /^[A-Za-z0-9_][A-Za-z0-9_.-]*$/;

export async function assetResponse(assets: StaticAssets | undefined, name: string, head: boolean): Promise<Response | undefined> {
  if (!assets || !ASSET_NAME.test(name)) return undefined;
  const asset = await assets.get(name);
  if (!asset) return undefined;
  const headers = {
    ...ISOLATION_HEADERS,
    "content-type": asset.type,
    "content-length": String(asset.bytes.byteLength),
    // The bundle is rebuilt in place; revalidating costs one small request per visit.
    "cache-control": "no-cache",
  };
  return new Response(head ? null : (asset.bytes as Uint8Array<ArrayBuffer>), { status: 200, headers });
}

const etags = new WeakMap<object, Promise<string>>();

/** The served model as a single GGUF file; undefined for split files and safetensors folders. */
export async function modelFileResponse(request: Request, engine: Engine): Promise<Response | undefined> {
  const file = engine.model.file;
  if (!(file instanceof GgufFile)) return undefined;
  let etag = etags.get(file);
  if (!etag) {
    etag = sourceEtag(file.source);
    etags.set(file, etag);
  }
  return rangeResponse(request, file.source, {
    contentType: "application/octet-stream",
    etag: await etag,
    headers: { ...ISOLATION_HEADERS, "cache-control": "no-cache" },
  });
}
