// Weights over several 32-bit wasm memories ("shards"), for models whose repacked weights do not
// fit in 4 GiB. AssemblyScript cannot emit memory64 and V8 has no multi-memory, so each memory gets
// its own instance of the same kernel module. Shard 0 holds the control block, activations, KV
// cache, scratch and as many weights as fit beside them; the other shards hold weights plus a small
// transfer area. An op on a weight in shard k copies its (small) input — the already-quantized
// activation rows — into shard k, runs there on all threads, and copies the output rows back.
// Decode moves ~dim + rows values per matmul against rows × dim weight bytes, so the copies are noise.

import { UserError } from "../../errors.ts";
import { HEAP_BASE, MAX_PAGES, OP } from "./abi.ts";
import { Heap } from "./heap.ts";
import type { Pool } from "./pool.ts";
import { instantiateKernels } from "./worker.ts";

const PAGE = 65536;
const MEMORY_BYTES = MAX_PAGES * PAGE;
/** Repacked weights take more room than the file: at most +20% (Q4_1); plus alignment. */
const REPACK_SLACK = 1.25;
/** Shard 0 room kept beyond the caller's estimate for the backend's own scratch. */
const SHARD0_MARGIN = 256 * 2 ** 20;

export interface ShardOptions {
  /** Bytes of weights the model will load (as stored in the file): sizes the set of memories. */
  weightBytes?: number;
  /** Bytes shard 0 keeps free for the KV cache, activations and scratch (besides a margin); default 768 MiB. */
  reserveBytes?: number;
  /** Most weight bytes placed in one memory; default: what fits in 4 GiB. Tests make it tiny. */
  shardWeightBytes?: number;
}

type Exports = Record<string, (...a: number[]) => number>;

export class Shard {
  readonly index: number;
  readonly memory: WebAssembly.Memory;
  readonly heap: Heap;
  readonly exports: Exports;
  /** Weight bytes this shard may still take. */
  room: number;
  /** Weight bytes placed here. */
  weightBytes = 0;
  /** Transfer area for op inputs/outputs and repack staging (shards ≥ 1 only). */
  readonly xfer: number;
  readonly xferBytes: number;
  #u8: Uint8Array;

  constructor(index: number, module: WebAssembly.Module, maxPages: number, room: number, xferBytes: number) {
    this.index = index;
    this.memory = new WebAssembly.Memory({ initial: Math.ceil(HEAP_BASE / PAGE) + 1, maximum: maxPages, shared: true });
    this.exports = instantiateKernels(module, this.memory).exports as unknown as Exports;
    this.heap = new Heap(this.memory, maxPages);
    this.room = room;
    this.xferBytes = xferBytes;
    this.xfer = xferBytes ? this.heap.alloc(xferBytes) : 0;
    this.#u8 = new Uint8Array(this.memory.buffer);
  }

  /** A byte view of the whole memory (renewed after the memory grew). */
  u8(): Uint8Array {
    if (this.#u8.byteLength !== this.memory.buffer.byteLength) this.#u8 = new Uint8Array(this.memory.buffer);
    return this.#u8;
  }
}

export interface ShardPlan {
  count: number;
  /** Weight bytes allowed in shard 0 and in each other shard. */
  room0: number;
  roomK: number;
  xferBytes: number;
  /** Declared maximum of shards ≥ 1, in pages. */
  maxPagesK: number;
}

export function planShards(opts: ShardOptions): ShardPlan {
  const cap = opts.shardWeightBytes ?? MEMORY_BYTES;
  if (!(cap > 0)) throw new RangeError(`shardWeightBytes must be positive, got ${cap}`);
  const xferBytes = Math.min(64 << 20, Math.max(16 << 10, Math.floor(cap / 16 / 64) * 64));
  const maxPagesK = Math.min(MAX_PAGES, Math.ceil((HEAP_BASE + xferBytes + cap) / PAGE));
  const roomK = Math.min(cap, maxPagesK * PAGE - HEAP_BASE - xferBytes);
  const weights = opts.weightBytes;
  if (weights === undefined) return { count: 1, room0: Math.min(cap, MEMORY_BYTES - HEAP_BASE), roomK, xferBytes, maxPagesK };
  const est = weights * REPACK_SLACK;
  const reserve = (opts.reserveBytes ?? 768 * 2 ** 20) + SHARD0_MARGIN;
  const room0 = Math.max(0, Math.min(cap, MEMORY_BYTES - HEAP_BASE - reserve));
  if (est <= room0 && opts.shardWeightBytes === undefined) return { count: 1, room0: MEMORY_BYTES - HEAP_BASE, roomK, xferBytes, maxPagesK };
  if (est <= room0) return { count: 1, room0, roomK, xferBytes, maxPagesK };
  // One spare shard absorbs what first-fit leaves unused at the end of each memory.
  return { count: 2 + Math.ceil((est - room0) / roomK), room0, roomK, xferBytes, maxPagesK };
}

export class Shards {
  readonly list: Shard[];

  constructor(module: WebAssembly.Module, opts: ShardOptions = {}) {
    const p = planShards(opts);
    this.list = [new Shard(0, module, MAX_PAGES, p.room0, 0)];
    for (let k = 1; k < p.count; k++) this.list.push(new Shard(k, module, p.maxPagesK, p.roomK, p.xferBytes));
  }

  get memories(): WebAssembly.Memory[] {
    return this.list.map((s) => s.memory);
  }

  /** The first shard with room for a weight of `bytes` (all its allocations together). */
  place(bytes: number): Shard {
    for (const s of this.list) {
      if (s.room >= bytes) {
        s.room -= bytes;
        s.weightBytes += bytes;
        return s;
      }
    }
    const mib = (n: number) => `${(n / 2 ** 20).toFixed(0)} MiB`;
    throw new UserError(
      this.list.length === 1
        ? `a weight of ${mib(bytes)} does not fit in the wasm backend's memory (${mib(this.list[0]!.room)} left); ` +
          `weights over 4 GiB need the backend created with weightBytes (loadModel does this)`
        : `a weight of ${mib(bytes)} does not fit in any of the wasm backend's ${this.list.length} memories (most left: ` +
          `${mib(Math.max(...this.list.map((s) => s.room)))})`,
    );
  }

  /** Give a weight's allocations back (`bytes` as passed to `place`). */
  release(shard: Shard, ptrs: readonly number[], bytes: number): void {
    for (const p of ptrs) shard.heap.release(p);
    shard.room += bytes;
    shard.weightBytes -= bytes;
  }

  /**
   * Runs an OP.MATMUL descriptor on a weight in shard k ≥ 1. `act` (nTokens rows of `stride`
   * bytes) and `out` (nTokens × rows f32) are in shard 0; tokens go through the transfer area in
   * chunks that fit it.
   */
  matmul(pool: Pool, shard: Shard, kernel: number, q: number, s: number, cols: number, rows: number,
    act: number, stride: number, nTokens: number, out: number, parallel: boolean, mode: number): void {
    const outRow = rows * 4;
    const actBytes = (n: number) => Math.ceil((n * stride) / 64) * 64;
    let chunk = Math.min(nTokens, Math.floor((shard.xferBytes - 64) / (stride + outRow)));
    // Whole groups of 4 tokens per chunk, so the gemm groups of the batch stay intact.
    if (chunk < nTokens && chunk >= 4) chunk &= ~3;
    if (chunk < 1) throw new UserError(`a matmul row of ${stride + outRow} bytes does not fit the wasm shard transfer area (${shard.xferBytes} bytes)`);
    const src = this.list[0]!.u8(), dst = shard.u8();
    for (let t0 = 0; t0 < nTokens; t0 += chunk) {
      const n = Math.min(chunk, nTokens - t0);
      const a = shard.xfer, o = shard.xfer + actBytes(n);
      dst.set(src.subarray(act + t0 * stride, act + (t0 + n) * stride), a);
      const d = pool.begin(shard.index);
      d[0] = OP.MATMUL; d[1] = kernel; d[2] = q; d[3] = s; d[4] = cols; d[5] = rows; d[6] = a; d[7] = stride; d[8] = n; d[9] = o;
      // The kernel choice is the whole batch's; the gemm token count (mode >> 4) is made local to the chunk.
      d[10] = (mode & 15) | (Math.min(n, Math.max(0, (mode >> 4) - t0)) << 4);
      pool.run(parallel);
      src.set(dst.subarray(o, o + n * outRow), out + t0 * outRow);
    }
  }

  /** Dequantizes one row of a weight in shard k ≥ 1 into shard 0 at `dst` (f32, `cols` values). */
  row(shard: Shard, dequant: (tmp: number) => void, cols: number, dst: number): void {
    if (cols * 4 > shard.xferBytes) throw new UserError(`a row of ${cols} values does not fit the wasm shard transfer area`);
    dequant(shard.xfer);
    this.list[0]!.u8().set(shard.u8().subarray(shard.xfer, shard.xfer + cols * 4), dst);
  }
}
