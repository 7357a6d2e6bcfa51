// The page's side of the engine: a worker that loads models and answers fetch-shaped requests,
// and a small OpenAI-style client (`chat.completions.create`, `completions.create`) that works the
// same over that worker (the model in this browser) or over `fetch` (the model on the server).

import type { FromWorker, LoadedInfo, LoadRequest, Progress, ToWorker } from "./protocol.ts";

export type { LoadedInfo, LoadRequest, Progress } from "./protocol.ts";

export interface FetchInit {
  readonly method?: string;
  readonly headers?: Record<string, string>;
  readonly body?: string;
  readonly signal?: AbortSignal;
}
export type FetchLike = (url: string, init?: FetchInit) => Promise<Response>;

interface Pending {
  onMessage(m: FromWorker): void;
}

/** The engine worker, started from its script URL (a module worker). */
export class WorkerEngine {
  readonly worker: Worker;
  private nextId = 1;
  private readonly pending = new Map<number, Pending>();

  constructor(scriptUrl: URL | string) {
    this.worker = new Worker(scriptUrl, { type: "module", name: "llamats-engine" });
    this.worker.onmessage = (e: MessageEvent<FromWorker>) => this.pending.get(e.data.id)?.onMessage(e.data);
    this.worker.onerror = (e) => {
      const message = `engine worker failed: ${e.message || "error"}`;
      for (const p of this.pending.values()) p.onMessage({ type: "error", id: 0, message });
    };
  }

  private send(m: ToWorker): void {
    this.worker.postMessage(m);
  }

  load(req: LoadRequest, opts: { onProgress?: (p: Progress) => void; signal?: AbortSignal } = {}): Promise<LoadedInfo> {
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      const onAbort = () => this.send({ type: "abort", id });
      opts.signal?.addEventListener("abort", onAbort, { once: true });
      const done = () => {
        this.pending.delete(id);
        opts.signal?.removeEventListener("abort", onAbort);
      };
      this.pending.set(id, {
        onMessage: (m) => {
          if (m.type === "progress") opts.onProgress?.(m.progress);
          else if (m.type === "loaded") {
            done();
            resolve(m.info);
          } else if (m.type === "error") {
            done();
            reject(new Error(m.message));
          }
        },
      });
      this.send({ type: "load", id, req });
    });
  }

  clearCache(): Promise<number> {
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      this.pending.set(id, {
        onMessage: (m) => {
          this.pending.delete(id);
          if (m.type === "cleared") resolve(m.files);
          else if (m.type === "error") reject(new Error(m.message));
        },
      });
      this.send({ type: "clear-cache", id });
    });
  }

  /** A `fetch` answered by the worker's copy of the server's handler; the body streams. */
  readonly fetch: FetchLike = (url, init = {}) => {
    const id = this.nextId++;
    const signal = init.signal;
    if (signal?.aborted) return Promise.reject(signal.reason as Error);
    return new Promise<Response>((resolve, reject) => {
      let body: ReadableStreamDefaultController<Uint8Array> | undefined;
      let settled = false;
      const finish = () => {
        this.pending.delete(id);
        signal?.removeEventListener("abort", onAbort);
      };
      const onAbort = () => {
        this.send({ type: "abort", id });
        finish();
        const reason = signal?.reason ?? new DOMException("aborted", "AbortError");
        if (!settled) reject(reason as Error);
        else body?.error(reason);
      };
      signal?.addEventListener("abort", onAbort, { once: true });
      this.pending.set(id, {
        onMessage: (m) => {
          if (m.type === "response") {
            settled = true;
            const stream = new ReadableStream<Uint8Array>({
              start: (c) => {
                body = c;
              },
              cancel: () => {
                this.send({ type: "abort", id });
                finish();
              },
            });
            resolve(new Response(stream, { status: m.status, statusText: m.statusText, headers: m.headers }));
          } else if (m.type === "chunk") body?.enqueue(m.bytes);
          else if (m.type === "end") {
            finish();
            body?.close();
          } else if (m.type === "error") {
            finish();
            if (settled) body?.error(new Error(m.message));
            else reject(new Error(m.message));
          }
        },
      });
      this.send({ type: "fetch", id, url, method: init.method ?? "GET", headers: Object.entries(init.headers ?? {}), body: init.body });
    });
  };

  terminate(): void {
    this.worker.terminate();
  }
}

/** What OpenAI's API returns, loosely: the page reads a few fields. */
export interface ChatMessage {
  role: "system" | "user" | "assistant";
  content: string;
}
export interface Usage {
  prompt_tokens: number;
  completion_tokens: number;
  total_tokens: number;
}
export interface ChatCompletionChunk {
  id: string;
  choices: { index: number; delta: { role?: string; content?: string | null }; finish_reason: string | null }[];
  usage?: Usage | null;
}
export interface CompletionChunk {
  id: string;
  choices: { index: number; text: string; finish_reason: string | null }[];
  usage?: Usage | null;
}
export interface SamplingParams {
  model?: string;
  temperature?: number;
  top_p?: number;
  top_k?: number;
  max_tokens?: number;
  seed?: number;
  stop?: string | string[];
  ignore_eos?: boolean;
  stream?: boolean;
  stream_options?: { include_usage?: boolean };
}
export interface ChatParams extends SamplingParams {
  messages: ChatMessage[];
}
export interface CompletionParams extends SamplingParams {
  prompt: string;
}

export class ApiError extends Error {
  readonly status: number;
  constructor(status: number, message: string) {
    super(message);
    this.status = status;
  }
}

/** Parses `data: …` server-sent events until `[DONE]`. */
export async function* sseEvents<T>(body: ReadableStream<Uint8Array>): AsyncGenerator<T> {
  const reader = body.getReader();
  const decoder = new TextDecoder();
  let buf = "";
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) return;
      buf += decoder.decode(value, { stream: true });
      let cut: number;
      while ((cut = buf.indexOf("\n\n")) >= 0) {
        const event = buf.slice(0, cut);
        buf = buf.slice(cut + 2);
        const data = event.split("\n").filter((l) => l.startsWith("data:")).map((l) => l.slice(5).trimStart()).join("\n");
        if (!data) continue;
        if (data === "[DONE]") return;
        const parsed = JSON.parse(data) as T & { error?: { message?: string; code?: number } };
        if (parsed.error) throw new ApiError(500, parsed.error.message ?? "stream error");
        yield parsed as T;
      }
    }
  } finally {
    void reader.cancel().catch(() => {});
  }
}

export interface RequestOptions {
  readonly signal?: AbortSignal;
}

export class OpenAIClient {
  readonly fetch: FetchLike;
  readonly headers: Record<string, string>;

  constructor(fetchLike: FetchLike, opts: { apiKey?: string } = {}) {
    this.fetch = fetchLike;
    this.headers = { "content-type": "application/json" };
    if (opts.apiKey) this.headers.authorization = `Bearer ${opts.apiKey}`;
  }

  private async post(path: string, body: unknown, opts: RequestOptions): Promise<Response> {
    const res = await this.fetch(path, { method: "POST", headers: this.headers, body: JSON.stringify(body), signal: opts.signal });
    if (!res.ok) {
      const text = await res.text();
      let message = text;
      try {
        message = (JSON.parse(text) as { error?: { message?: string } }).error?.message ?? text;
      } catch {
        // Not JSON: keep the text.
      }
      throw new ApiError(res.status, message || `HTTP ${res.status}`);
    }
    return res;
  }

  readonly chat = {
    completions: {
      create: async (params: ChatParams, opts: RequestOptions = {}): Promise<AsyncIterable<ChatCompletionChunk>> => {
        const res = await this.post("/v1/chat/completions", { ...params, stream: true }, opts);
        return sseEvents<ChatCompletionChunk>(res.body!);
      },
    },
  };

  readonly completions = {
    create: async (params: CompletionParams, opts: RequestOptions = {}): Promise<AsyncIterable<CompletionChunk>> => {
      const res = await this.post("/v1/completions", { ...params, stream: true }, opts);
      return sseEvents<CompletionChunk>(res.body!);
    },
  };

  readonly models = {
    list: async (opts: RequestOptions = {}): Promise<{ data: { id: string; max_model_len?: number }[] }> => {
      const res = await this.fetch("/v1/models", { headers: this.headers, signal: opts.signal });
      if (!res.ok) throw new ApiError(res.status, `HTTP ${res.status}`);
      return (await res.json()) as { data: { id: string }[] };
    },
  };
}

/** Fetch against the page's own server (the model on the server). */
export const serverFetch: FetchLike = (url, init = {}) => fetch(url, init);
