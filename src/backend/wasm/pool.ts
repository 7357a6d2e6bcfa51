// The main thread's side of the thread pool: main + (n − 1) workers over one shared memory, one
// spin barrier per op, no messages on the token path. Spawning is delegated to a host (Node
// worker_threads or Web Workers), which only has to run `workerLoop` in a new thread.

import { CTRL, DESC_OFFSET, DESC_SLOTS } from "./abi.ts";
import type { WorkerInit } from "./worker.ts";

export interface WorkerHandle {
  terminate(): void;
}

export interface WasmHost {
  /** Compiled kernel module bytes for the relaxed-SIMD or plain-SIMD128 variant. */
  kernelBytes(relaxed: boolean): Promise<Uint8Array>;
  /** Start a thread running `workerLoop(init)`; resolve once it is about to enter the loop. */
  spawn(init: WorkerInit): Promise<WorkerHandle>;
  /** Logical cores available to this process. */
  cores(): number;
}

export class Pool {
  readonly threads: number;
  private readonly ctrl: Int32Array;
  private readonly descI: Int32Array;
  private readonly descF: Float32Array;
  private readonly descPtr: number;
  private readonly task: (desc: number, tid: number, nth: number) => number;
  private workers: WorkerHandle[] = [];

  private constructor(memory: WebAssembly.Memory, ctrlBase: number, threads: number, task: (d: number, t: number, n: number) => number) {
    this.threads = threads;
    this.ctrl = new Int32Array(memory.buffer, ctrlBase, DESC_OFFSET / 4);
    this.descPtr = ctrlBase + DESC_OFFSET;
    this.descI = new Int32Array(memory.buffer, this.descPtr, DESC_SLOTS);
    this.descF = new Float32Array(memory.buffer, this.descPtr, DESC_SLOTS);
    this.task = task;
  }

  static async create(host: WasmHost, module: WebAssembly.Module, memory: WebAssembly.Memory, ctrlBase: number,
    threads: number, task: (d: number, t: number, n: number) => number): Promise<Pool> {
    const pool = new Pool(memory, ctrlBase, threads, task);
    Atomics.store(pool.ctrl, CTRL.NTH, threads);
    try {
      for (let tid = 1; tid < threads; tid++) pool.workers.push(await host.spawn({ module, memory, ctrlBase, tid }));
    } catch (e) {
      pool.dispose();
      throw e;
    }
    return pool;
  }

  /**
   * Start writing a new op: marks the descriptor as being written (odd GEN) and waits until no
   * worker is still inside the previous op. Returns the descriptor's i32 slots (slot 0 = op code).
   */
  begin(): Int32Array {
    const c = this.ctrl;
    if (this.threads > 1) {
      if (!(Atomics.load(c, CTRL.GEN) & 1)) Atomics.add(c, CTRL.GEN, 1);
      while (Atomics.load(c, CTRL.ACTIVE) !== 0) { /* a worker finishing its last chunk */ }
    }
    return this.descI;
  }

  get f32(): Float32Array { return this.descF; }

  /** Run the op written since `begin` on all threads (or the main thread alone) and wait for it. */
  run(parallel = true): void {
    const c = this.ctrl;
    Atomics.store(c, CTRL.CLAIM, 0);
    Atomics.store(c, CTRL.FIN, 0);
    if (!parallel || this.threads === 1) {
      this.task(this.descPtr, 0, 1);
      return;
    }
    Atomics.add(c, CTRL.GEN, 1); // publish (even)
    if (Atomics.load(c, CTRL.SLEEPERS) > 0) Atomics.notify(c, CTRL.GEN);
    let err: unknown;
    let chunks = 0;
    try {
      chunks = this.task(this.descPtr, 0, this.threads);
    } catch (e) {
      err = e;
    }
    // Chunks other threads claimed are finished when FIN reaches the count.
    while (Atomics.load(c, CTRL.FIN) < chunks) { /* spin */ }
    if (err) throw err;
    const wErr = Atomics.exchange(c, CTRL.ERROR, 0);
    if (wErr) throw new Error(`wasm backend: worker ${wErr - 1} trapped in op ${this.descI[0]}`);
  }

  dispose(): void {
    Atomics.store(this.ctrl, CTRL.EXIT, 1);
    Atomics.add(this.ctrl, CTRL.GEN, 2);
    Atomics.notify(this.ctrl, CTRL.GEN);
    for (const w of this.workers) w.terminate();
    this.workers = [];
  }
}
