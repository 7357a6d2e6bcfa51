// The loop every worker thread runs, independent of the runtime (worker_threads or Web Workers):
// instantiate the kernels over each shared memory, then wait for a new generation number in the
// control block, run this thread's share of the op, count itself done. Spin first (a dispatch
// costs ~1 µs that way), then sleep on Atomics.wait so idle workers do not burn a core.

import { CTRL, DESC_OFFSET } from "./abi.ts";

export interface WorkerInit {
  module: WebAssembly.Module;
  /** Shard 0 (control block, activations) first, then the weight shards (shards.ts). */
  memories: WebAssembly.Memory[];
  ctrlBase: number;
  tid: number;
}

/** Spins before sleeping: ~0.2–1 ms, longer than the JS between two ops of one token. */
const SPIN = 200_000;

export function instantiateKernels(module: WebAssembly.Module, memory: WebAssembly.Memory): WebAssembly.Instance {
  return new WebAssembly.Instance(module, { env: { memory } });
}

/**
 * Runs until the control block's EXIT flag is set. A worker enters an op only while its
 * generation is published (even) and unchanged after announcing itself in ACTIVE, so it never
 * reads a descriptor (or the SHARD slot) the main thread is rewriting; a worker that arrives late
 * finds no chunks.
 */
export function workerLoop(init: WorkerInit, onReady: () => void): void {
  const tasks = init.memories.map((m) => instantiateKernels(init.module, m).exports.task as (desc: number, tid: number, nth: number) => number);
  const ctrl = new Int32Array(init.memories[0]!.buffer, init.ctrlBase, DESC_OFFSET / 4);
  const desc = init.ctrlBase + DESC_OFFSET;
  let last = Atomics.load(ctrl, CTRL.GEN);
  onReady();
  let spins = 0;
  for (;;) {
    if (Atomics.load(ctrl, CTRL.EXIT)) return;
    const g = Atomics.load(ctrl, CTRL.GEN);
    if (g === last || g & 1) {
      if (++spins > SPIN) {
        Atomics.add(ctrl, CTRL.SLEEPERS, 1);
        Atomics.wait(ctrl, CTRL.GEN, g);
        Atomics.sub(ctrl, CTRL.SLEEPERS, 1);
        spins = 0;
      }
      continue;
    }
    Atomics.add(ctrl, CTRL.ACTIVE, 1);
    if (Atomics.load(ctrl, CTRL.GEN) === g) {
      last = g;
      spins = 0;
      try {
        tasks[Atomics.load(ctrl, CTRL.SHARD)]!(desc, init.tid, Atomics.load(ctrl, CTRL.NTH));
      } catch {
        Atomics.store(ctrl, CTRL.ERROR, init.tid + 1);
      }
    }
    Atomics.sub(ctrl, CTRL.ACTIVE, 1);
  }
}
