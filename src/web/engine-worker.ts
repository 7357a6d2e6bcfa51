// The engine's dedicated worker: loads the model (picked file, URL with range requests, OPFS
// cache), then answers requests with the same fetch handler `llamats serve` uses, so the page
// talks to the in-browser model through the very OpenAI API the server offers.

import { readGguf } from "../format/gguf.ts";
import { BlobSource, type RandomAccessSource } from "../format/source.ts";
import { Model } from "../engine/model.ts";
import type { Backend } from "../backend/types.ts";
import { createRefBackend } from "../backend/ref/index.ts";
import { createWasmBackend } from "../backend/wasm/index.ts";
import { createEngine, createServer, type LlamaServer } from "../server/index.ts";
import { clearCache, openUrl } from "./opfs-cache.ts";
import { webWasmHost, type WebWasmHost } from "./wasm-host.ts";
import type { FromWorker, LoadedInfo, LoadRequest, ToWorker } from "./protocol.ts";

interface WorkerScope {
  onmessage: ((e: MessageEvent<ToWorker>) => void) | null;
  postMessage(message: FromWorker, transfer?: Transferable[]): void;
  readonly crossOriginIsolated: boolean;
}
const scope = globalThis as unknown as WorkerScope;
const post = (m: FromWorker, transfer?: Transferable[]) => scope.postMessage(m, transfer);

/** Requests are answered as if from this origin; the handler only looks at the path. */
const BASE = "http://llamats.worker";

let current: { model: Model; server: LlamaServer } | undefined;
let loading: { id: number; ac: AbortController } | undefined;
const inflight = new Map<number, AbortController>();

async function makeBackend(req: LoadRequest, weightBytes: number): Promise<{ backend: Backend; host?: WebWasmHost; fallback?: string }> {
  if (req.backend === "ref") return { backend: createRefBackend() };
  // Without isolation there is no SharedArrayBuffer to hand to other threads: one thread.
  const threads = scope.crossOriginIsolated ? Math.max(1, req.threads) : 1;
  const host = webWasmHost({
    kernelBase: new URL("./", import.meta.url),
    workerUrl: new URL("./pool-worker.js", import.meta.url),
  });
  try {
    // The weight size lets the backend spread models over 4 GiB across several wasm memories.
    return { backend: await createWasmBackend({ threads, host, weightBytes }), host };
  } catch (e) {
    if (req.backend === "wasm") throw e;
    return { backend: createRefBackend(), fallback: e instanceof Error ? e.message : String(e) };
  }
}

async function load(id: number, req: LoadRequest): Promise<LoadedInfo> {
  loading?.ac.abort();
  const ac = new AbortController();
  loading = { id, ac };
  const t0 = performance.now();
  if (current) {
    const old = current;
    current = undefined;
    old.server.engine?.scheduler.close();
    await old.model.dispose();
  }
  let source: RandomAccessSource;
  let origin: LoadedInfo["origin"];
  if ("file" in req.from) {
    source = new BlobSource(req.from.file);
    origin = "file";
  } else {
    const opened = await openUrl(req.from.url, {
      cache: req.cache,
      signal: ac.signal,
      onProgress: (progress) => post({ type: "progress", id, progress }),
    });
    source = opened.source;
    origin = opened.origin;
  }
  const file = await readGguf(source);
  const { backend, host, fallback } = await makeBackend(req, file.tensors.reduce((n, t) => n + t.byteLength, 0)).catch(async (e: unknown) => {
    await file.close();
    throw e;
  });
  let model: Model;
  try {
    model = await Model.load(file, {
      backend,
      contextSize: req.contextSize,
      signal: ac.signal,
      onProgress: (p) => post({ type: "progress", id, progress: { phase: "load", done: p.loadedBytes, total: p.totalBytes } }),
    });
  } catch (e) {
    backend.dispose();
    await file.close();
    throw e;
  }
  const name = source.name.split("/").pop() || source.name;
  const modelId = name.replace(/\?.*$/, "");
  const server = createServer({ modelId, modelDownload: false });
  server.ready(createEngine(model, { modelId, parallel: 1, observer: server.metrics.observer }));
  current = { model, server };
  const threads = (backend as { threads?: number }).threads ?? 1;
  return {
    modelId,
    name: source.name,
    bytes: source.size,
    origin,
    backend: backend.name,
    threads,
    poolWorkers: host?.running ?? 0,
    crossOriginIsolated: scope.crossOriginIsolated,
    layers: model.config.nLayers,
    contextSize: model.contextSize,
    loadMs: performance.now() - t0,
    fallback,
  };
}

async function answer(m: Extract<ToWorker, { type: "fetch" }>): Promise<void> {
  const ac = new AbortController();
  inflight.set(m.id, ac);
  try {
    if (!current) throw new Error("no model is loaded in the browser yet");
    const request = new Request(new URL(m.url, BASE), {
      method: m.method,
      headers: m.headers,
      body: m.body,
      signal: ac.signal,
    });
    const res = await current.server.fetch(request);
    post({ type: "response", id: m.id, status: res.status, statusText: res.statusText, headers: [...res.headers] });
    if (res.body) {
      const reader = res.body.getReader();
      // Cancelling the body is what stops a streaming generation (the SSE producer's onCancel).
      const cancel = () => void reader.cancel().catch(() => {});
      ac.signal.addEventListener("abort", cancel, { once: true });
      for (;;) {
        const { done, value } = await reader.read();
        if (done || ac.signal.aborted) break;
        const copy = value.slice();
        post({ type: "chunk", id: m.id, bytes: copy }, [copy.buffer]);
      }
    }
    post({ type: "end", id: m.id });
  } finally {
    inflight.delete(m.id);
  }
}

scope.onmessage = (e) => {
  const m = e.data;
  const fail = (err: unknown) => post({ type: "error", id: m.id, message: err instanceof Error ? err.message : String(err) });
  switch (m.type) {
    case "load":
      load(m.id, m.req).then((info) => post({ type: "loaded", id: m.id, info }), fail);
      break;
    case "fetch":
      answer(m).catch(fail);
      break;
    case "abort":
      inflight.get(m.id)?.abort();
      if (loading?.id === m.id) loading.ac.abort();
      break;
    case "clear-cache":
      clearCache().then((files) => post({ type: "cleared", id: m.id, files }), fail);
      break;
  }
};
