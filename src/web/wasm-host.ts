// Browser host for the WASM backend: kernel bytes fetched next to the bundle, pool threads as
// module Web Workers that receive the compiled module and the shared memory by postMessage.

import type { WasmHost, WorkerHandle } from "../backend/wasm/pool.ts";
import type { WorkerInit } from "../backend/wasm/worker.ts";

export interface WebWasmHostOptions {
  /** Folder holding kernels-relaxed.wasm and kernels-simd.wasm. */
  readonly kernelBase: URL;
  /** The pool worker script (bundle of src/web/pool-worker.ts). */
  readonly workerUrl: URL;
}

export interface WebWasmHost extends WasmHost {
  /** Pool workers running now. */
  readonly running: number;
}

export function webWasmHost(opts: WebWasmHostOptions): WebWasmHost {
  let running = 0;
  return {
    get running() {
      return running;
    },
    async kernelBytes(relaxed) {
      const url = new URL(relaxed ? "kernels-relaxed.wasm" : "kernels-simd.wasm", opts.kernelBase);
      const res = await fetch(url);
      if (!res.ok) throw new Error(`${url.pathname}: HTTP ${res.status} (kernels not built? run npm run build:wasm)`);
      return new Uint8Array(await res.arrayBuffer());
    },
    spawn(init: WorkerInit): Promise<WorkerHandle> {
      const worker = new Worker(opts.workerUrl, { type: "module", name: `llamats-pool-${init.tid}` });
      return new Promise((resolve, reject) => {
        worker.onmessage = () => {
          running++;
          let ended = false;
          resolve({
            terminate: () => {
              if (ended) return;
              ended = true;
              running--;
              worker.terminate();
            },
          });
        };
        worker.onerror = (e) => {
          worker.terminate();
          reject(new Error(`pool worker ${init.tid} failed to start: ${e.message || "error"}`));
        };
        worker.onmessageerror = () => reject(new Error(`pool worker ${init.tid}: the shared memory could not be sent (not cross-origin isolated?)`));
        worker.postMessage(init);
      });
    },
    cores: () => navigator.hardwareConcurrency || 1,
  };
}
