// Web Worker entry of the WASM backend's thread pool: receive the kernels and the shared memory,
// then run the runtime-neutral loop until the pool exits.

import { workerLoop, type WorkerInit } from "../backend/wasm/worker.ts";

interface WorkerScope {
  onmessage: ((e: MessageEvent<WorkerInit>) => void) | null;
  postMessage(message: unknown): void;
}

const scope = globalThis as unknown as WorkerScope;
scope.onmessage = (e) => {
  scope.onmessage = null;
  workerLoop(e.data, () => scope.postMessage("ready"));
};
