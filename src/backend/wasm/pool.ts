// The main thread's side of the thread pool: main + (n − 1) workers over the shared memories, one
// spin barrier per op, no messages on the token path. Spawning is delegated to a host (Node
// worker_threads or Web Workers), which only has to run `workerLoop` in a new thread.
//
// With several memories (shards.ts) every thread holds one kernel instance per memory; an op
// names its memory in shard 0's SHARD slot and uses that memory's descriptor and chunk counters.

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

type Task = (desc: number, tid: number, nth: number) => number;

export class Pool {
  readonly threads: number;
  /** Control blocks per memory; shard 0's holds the generation, thread and error slots. */
  private readonly ctrls: Int32Array[];
  private readonly descIs: Int32Array[];
  private readonly descF: Float32Array;
  private readonly descPtr: number;
  private readonly tasks: Task[];
  private shard = 0;
  private workers: WorkerHandle[] = [];

  private constructor(memories: readonly WebAssembly.Memory[], ctrlBase: number, threads: number, tasks: Task[]) {
    this.threads = threads;
    this.ctrls = memories.map((m) => new Int32Array(m.buffer, ctrlBase, DESC_OFFSET / 4));
    this.descPtr = ctrlBase + DESC_OFFSET;
    this.descIs = memories.map((m) => new Int32Array(m.buffer, this.descPtr, DESC_SLOTS));
    this.descF = new Float32Array(memories[0]!.buffer, this.descPtr, DESC_SLOTS);
    this.tasks = tasks;
  }

  static async create(host: WasmHost, module: WebAssembly.Module, memories: readonly WebAssembly.Memory[], ctrlBase: number,
    threads: number, tasks: Task[]): Promise<Pool> {
    const pool = new Pool(memories, ctrlBase, threads, tasks);
    Atomics.store(pool.ctrls[0]!, CTRL.NTH, threads);
    try {
      for (let tid = 1; tid < threads; tid++) pool.workers.push(await host.spawn({ module, memories: [...memories], ctrlBase, tid }));
    } catch (e) {
      pool.dispose();
      throw e;
    }
    return pool;
  }

  /**
   * Start writing a new op in memory `shard`: marks the descriptor as being written (odd GEN) and
   * waits until no worker is still inside the previous op. Returns that memory's descriptor i32
   * slots (slot 0 = op code).
   */
  begin(shard = 0): Int32Array {
    const c = this.ctrls[0]!;
    if (this.threads > 1) {
      if (!(Atomics.load(c, CTRL.GEN) & 1)) Atomics.add(c, CTRL.GEN, 1);
      while (Atomics.load(c, CTRL.ACTIVE) !== 0) { /* a worker finishing its last chunk */ }
    }
    this.shard = shard;
    return this.descIs[shard]!;
  }

  /** Shard 0's descriptor as f32 (ops with float arguments run in shard 0). */
  get f32(): Float32Array { return this.descF; }

  /** Run the op written since `begin` on all threads (or the main thread alone) and wait for it. */
  run(parallel = true): void {
    const c = this.ctrls[0]!, k = this.shard, ck = this.ctrls[k]!;
    Atomics.store(ck, CTRL.CLAIM, 0);
    Atomics.store(ck, CTRL.FIN, 0);
    const task = this.tasks[k]!;
    if (!parallel || this.threads === 1) {
      task(this.descPtr, 0, 1);
      return;
    }
    Atomics.store(c, CTRL.SHARD, k);
    Atomics.add(c, CTRL.GEN, 1); // publish (even)
    if (Atomics.load(c, CTRL.SLEEPERS) > 0) Atomics.notify(c, CTRL.GEN);
    let err: unknown;
    let chunks = 0;
    try {
      chunks = task(this.descPtr, 0, this.threads);
    } catch (e) {
      err = e;
    }
    // Chunks other threads claimed are finished when FIN reaches the count.
    while (Atomics.load(ck, CTRL.FIN) < chunks) { /* spin */ }
    if (err) throw err;
    const wErr = Atomics.exchange(c, CTRL.ERROR, 0);
    if (wErr) throw new Error(`wasm backend: worker ${wErr - 1} trapped in op ${this.descIs[k]![0]}`);
  }

  dispose(): void {
    const c = this.ctrls[0]!;
    Atomics.store(c, CTRL.EXIT, 1);
    Atomics.add(c, CTRL.GEN, 2);
    Atomics.notify(c, CTRL.GEN);
    for (const w of this.workers) w.terminate();
    this.workers = [];
  }
}
