// Node host for the wasm backend: kernel bytes from build/wasm/ (made by `npm run build:wasm`),
// worker_threads running the runtime-neutral worker loop.

import { readFile } from "node:fs/promises";
import { availableParallelism } from "node:os";
import { Worker } from "node:worker_threads";
import { UserError } from "../errors.ts";
import type { WasmHost, WorkerHandle } from "../backend/wasm/pool.ts";
import type { WorkerInit } from "../backend/wasm/worker.ts";

const buildDir = new URL("../../build/wasm/", import.meta.url);

export const nodeWasmHost: WasmHost = {
  async kernelBytes(relaxed) {
    const file = new URL(relaxed ? "kernels-relaxed.wasm" : "kernels-simd.wasm", buildDir);
    try {
      return new Uint8Array(await readFile(file));
    } catch {
      throw new UserError(`wasm kernels not built (${file.pathname} missing): run \`npm run build:wasm\``);
    }
  },

  spawn(init: WorkerInit): Promise<WorkerHandle> {
    // No inherited execArgv: under `node --test` it would make the worker a test runner too.
    const worker = new Worker(new URL("./wasm-worker.ts", import.meta.url), { workerData: init, execArgv: [] });
    return new Promise((resolve, reject) => {
      worker.once("message", () => {
        // Referenced while starting (so the event loop waits for it), then unreferenced: the pool
        // ends workers explicitly and a forgotten backend must not keep the process alive.
        worker.unref();
        resolve({ terminate: () => void worker.terminate() });
      });
      worker.once("error", reject);
      worker.once("exit", (code) => reject(new Error(`wasm worker exited with code ${code} before starting`)));
    });
  },

  cores: () => availableParallelism(),
};
