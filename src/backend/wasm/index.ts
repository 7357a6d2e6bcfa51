// The WebAssembly SIMD backend: weights repacked into wasm memory at load, quantized activations
// shared by all threads, every op a single dispatch over the thread pool (main thread + workers
// on one shared memory). Kernels are in kernels/ (AssemblyScript), compiled by `npm run build:wasm`.

import { UserError } from "../../errors.ts";
import { ggmlTypeInfo, ggmlTypeName, rowBytes } from "../../format/ggml.ts";
import type { GgmlType } from "../../format/ggml.ts";
import type { AttentionShape, AttentionSpan, Backend, Buf, RopeParams, Weight } from "../types.ts";
import { ropeAngles } from "../ref/rope.ts";
import { dotKernel } from "../ref/vecdot.ts";
import { ACT, CTRL_BASE, MAX_PAGES, MODE, OP, WEIGHT_PAD } from "./abi.ts";
import { actStride, layoutOf } from "./layout.ts";
import type { Layout } from "./layout.ts";
import { Pool } from "./pool.ts";
import { instantiateKernels } from "./worker.ts";
import type { WasmHost } from "./pool.ts";
import { Shards } from "./shards.ts";
import type { Shard, ShardOptions } from "./shards.ts";


export type { WasmHost } from "./pool.ts";

export interface WasmBackendOptions extends ShardOptions {
  /** Threads including the main one; default: the machine's cores. */
  threads?: number;
  /** Force the relaxed-SIMD (true) or plain SIMD128 (false) kernels; default: relaxed when the runtime validates it. */
  relaxed?: boolean;
  /** Runtime adapter (kernel bytes, thread spawning); default: the Node adapter under Node. */
  host?: WasmHost;
}

export interface WasmBackend extends Backend {
  readonly threads: number;
  readonly relaxed: boolean;
  /** Bytes of wasm memory currently allocated (weights, buffers, scratch). */
  readonly heapBytes: number;
  /** Number of wasm memories (1 unless the weights need more than one; see shards.ts). */
  readonly shards: number;
  /** Weight bytes held by each memory. */
  readonly weightBytesPerShard: number[];
  matmulMany(ws: readonly Weight[], x: Buf, nTokens: number, outs: readonly Buf[]): void;
}

class WasmBuf implements Buf {
  readonly ptr: number;
  readonly length: number;
  readonly dtype: "f32" | "f16";
  constructor(ptr: number, length: number, dtype: "f32" | "f16") {
    this.ptr = ptr;
    this.length = length;
    this.dtype = dtype;
  }
}

class WasmWeight implements Weight {
  readonly type: GgmlType;
  readonly cols: number;
  readonly rows: number;
  readonly layout: Layout;
  /** Quant area (or row-major data for float types) and scale area, in memory `shard`. */
  readonly q: number;
  readonly s: number;
  readonly shard: Shard;
  readonly placed: number;
  constructor(type: GgmlType, cols: number, rows: number, layout: Layout, q: number, s: number, shard: Shard, placed: number) {
    this.type = type;
    this.cols = cols;
    this.rows = rows;
    this.layout = layout;
    this.q = q;
    this.s = s;
    this.shard = shard;
    this.placed = placed;
  }
}

/** Whether the kernels' f32x4.relaxed_madd is a fused multiply-add on this machine. */
function maddFuses(module: WebAssembly.Module): boolean {
  const memory = new WebAssembly.Memory({ initial: 1, maximum: MAX_PAGES, shared: true });
  const probe = instantiateKernels(module, memory).exports.maddProbe as (a: number, b: number, c: number) => number;
  // (1 + 2^-12)² − 1 = 2^-11 + 2^-24 exactly when fused; the rounded product loses the 2^-24.
  const a = 1 + 2 ** -12;
  return typeof probe === "function" && probe(a, a, -1) === 2 ** -11 + 2 ** -24;
}

/** A tiny module using i32x4.relaxed_dot_i8x16_i7x16_add_s: validates only where relaxed SIMD exists. */
function relaxedSimdSupported(): boolean {
  const c = [0xfd, 0x0c, ...new Array<number>(16).fill(0)];
  const body = [0x00, ...c, ...c, ...c, 0xfd, 0x93, 0x02, 0x0b];
  const bytes = new Uint8Array([
    0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00,
    0x01, 0x05, 0x01, 0x60, 0x00, 0x01, 0x7b,
    0x03, 0x02, 0x01, 0x00,
    0x0a, body.length + 2, 0x01, body.length, ...body,
  ]);
  return WebAssembly.validate(bytes);
}

async function defaultHost(): Promise<WasmHost> {
  const proc = (globalThis as { process?: { versions?: { node?: string } } }).process;
  if (proc?.versions?.node) {
    const path = "../../node/wasm-host.ts";
    return ((await import(path)) as typeof import("../../node/wasm-host.ts")).nodeWasmHost;
  }
  throw new Error("createWasmBackend: pass a `host` (kernel bytes + worker spawning) outside Node");
}

/**
 * Which of llama.cpp's kernels (and so which f32 arithmetic) a product stands for: the
 * reference's choice (abi.ts MODE), plus for the repacked types the number of leading tokens
 * that run gemm (whole groups of 4) rather than gemv, in the bits above the kind.
 */
function matmulMode(type: GgmlType, cols: number, rows: number, nTokens: number): number {
  const k = dotKernel(type, cols, rows, nTokens, nTokens - 1);
  if (k === "gemv" || k === "gemm") return MODE.REPACK | ((nTokens - (nTokens % 4)) << 4);
  return k === "tinyblas" ? MODE.TINY : k === "iqp" ? MODE.IQP : MODE.VEC;
}

const f64Views = new WeakMap<Int32Array, Float64Array>();
/** The descriptor's slots viewed as f64 (slot pair 2i, 2i+1 is f64 index i). */
function descF64(d: Int32Array): Float64Array {
  let v = f64Views.get(d);
  if (!v) f64Views.set(d, (v = new Float64Array(d.buffer, d.byteOffset, d.length >> 1)));
  return v;
}

function asBuf(b: Buf): WasmBuf {
  if (!(b instanceof WasmBuf)) throw new Error("wasm backend: buffer from another backend");
  return b;
}

function asF32(b: Buf, need: number, what: string): WasmBuf {
  const w = asBuf(b);
  if (w.dtype !== "f32") throw new Error(`wasm backend: ${what} must be an f32 buffer`);
  if (w.length < need) throw new Error(`wasm backend: ${what} has ${w.length} elements, needs ${need}`);
  return w;
}

/** Equal lengths and elements. */
function sameInts(a: Int32Array, b: Int32Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

export async function createWasmBackend(opts: WasmBackendOptions = {}): Promise<WasmBackend> {
  const host = opts.host ?? (await defaultHost());
  let relaxed = opts.relaxed ?? relaxedSimdSupported();
  const threads = Math.max(1, Math.floor(opts.threads ?? host.cores()));
  let module = await WebAssembly.compile((await host.kernelBytes(relaxed)) as Uint8Array<ArrayBuffer>);
  if (relaxed && !maddFuses(module)) {
    // The relaxed kernels stand on relaxed_madd being llama.cpp's fused multiply-add (exact.ts).
    relaxed = false;
    module = await WebAssembly.compile((await host.kernelBytes(false)) as Uint8Array<ArrayBuffer>);
  }
  const shards = new Shards(module, opts);
  const { memory, heap, exports: exp } = shards.list[0]!;
  const pool = await Pool.create(host, module, shards.memories, CTRL_BASE, threads,
    shards.list.map((s) => s.exports.task! as (d: number, t: number, n: number) => number));

  let u8 = new Uint8Array(memory.buffer);
  let f32 = new Float32Array(memory.buffer);
  let i32 = new Int32Array(memory.buffer);
  heap.onGrow = () => {
    u8 = new Uint8Array(memory.buffer);
    f32 = new Float32Array(memory.buffer);
    i32 = new Int32Array(memory.buffer);
  };

  // Scratch areas, grown (never shrunk) outside the steady state; the token loop reuses them.
  const scratch = new Map<string, { ptr: number; bytes: number }>();
  const scratchOf = (name: string, bytes: number): number => {
    const s = scratch.get(name);
    if (s && s.bytes >= bytes) return s.ptr;
    if (s) heap.release(s.ptr);
    const size = Math.max(bytes, s ? s.bytes * 2 : 0);
    const ptr = heap.alloc(size);
    scratch.set(name, { ptr, bytes: size });
    return ptr;
  };
  const writeInts = (name: string, data: Int32Array): number => {
    const p = scratchOf(name, Math.max(4, data.length * 4));
    i32.set(data, p >>> 2);
    return p;
  };

  /** x (nTokens rows of cols f32) in the weight's activation format, in scratch shared by all threads. */
  const quantizeActivations = (kind: number, xs: WasmBuf, cols: number, nTokens: number): { act: number; stride: number } => {
    if (kind === ACT.F32) return { act: xs.ptr, stride: cols * 4 };
    const stride = actStride(kind, cols);
    const act = scratchOf("act", stride * nTokens);
    const d = pool.begin();
    d[0] = OP.QUANT; d[1] = kind; d[2] = xs.ptr; d[3] = cols; d[4] = nTokens; d[5] = act; d[6] = stride;
    pool.run(nTokens > 1);
    return { act, stride };
  };

  let ropeCos = new Float32Array(0), ropeSin = new Float32Array(0);
  let ropeMemo: { positions: Int32Array; params?: RopeParams; tab: number } = { positions: new Int32Array(0), tab: 0 };
  const BIG = 32768; // elements of work below which a dispatch to workers costs more than it saves

  const backend: WasmBackend = {
    name: "wasm",
    threads,
    relaxed,
    get heapBytes() { return shards.list.reduce((n, s) => n + s.heap.bytesInUse, 0); },
    shards: shards.list.length,
    get weightBytesPerShard() { return shards.list.map((s) => s.weightBytes); },

    alloc(length, dtype = "f32") {
      const ptr = heap.alloc(Math.max(1, length) * (dtype === "f32" ? 4 : 2));
      u8.fill(0, ptr, ptr + length * (dtype === "f32" ? 4 : 2));
      return new WasmBuf(ptr, length, dtype);
    },
    free(buf) {
      heap.release(asBuf(buf).ptr);
    },
    write(buf, data, offset = 0) {
      const b = asBuf(buf);
      if (offset < 0 || offset + data.length > b.length) throw new RangeError("wasm backend: write outside the buffer");
      if (b.dtype === "f32") f32.set(data, (b.ptr >>> 2) + offset);
      else {
        // Converting through the kernels keeps one f32→f16 rounding implementation.
        const tmp = scratchOf("conv", data.length * 4);
        f32.set(data, tmp >>> 2);
        const cells = writeInts("convCells", Int32Array.of(0));
        const d = pool.begin();
        d[0] = OP.SETROWS; d[1] = b.ptr + offset * 2; d[2] = 1; d[3] = data.length; d[4] = cells; d[5] = 1; d[6] = tmp;
        pool.run(false);
      }
    },
    read(buf, offset = 0, length = buf.length - offset) {
      const b = asBuf(buf);
      if (offset < 0 || offset + length > b.length) throw new RangeError("wasm backend: read outside the buffer");
      if (b.dtype === "f32") return f32.slice((b.ptr >>> 2) + offset, (b.ptr >>> 2) + offset + length);
      const out = new Float32Array(length);
      const tmp = scratchOf("conv", length * 4);
      exp.rowFloat!(1, b.ptr + offset * 2, length, 0, tmp);
      out.set(f32.subarray(tmp >>> 2, (tmp >>> 2) + length));
      return out;
    },

    loadWeight(type, cols, rows, bytes) {
      const rb = weightRowBytes(type, cols);
      if (bytes.byteLength !== rb * rows) throw new Error(`weight has ${bytes.byteLength} bytes, expected ${rb * rows}`);
      const w = weightWriter(type, cols, rows);
      for (let r0 = 0; r0 < rows; r0 += w.chunkRows) w.put(r0, bytes.subarray(r0 * rb, Math.min(rows, r0 + w.chunkRows) * rb));
      return w.weight;
    },
    async loadWeightSliced(type, cols, rows, read) {
      const rb = weightRowBytes(type, cols);
      const w = weightWriter(type, cols, rows);
      try {
        for (let r0 = 0; r0 < rows; r0 += w.chunkRows) {
          const n = Math.min(w.chunkRows, rows - r0);
          const bytes = await read(r0 * rb, n * rb);
          if (bytes.byteLength !== n * rb) throw new Error(`weight slice has ${bytes.byteLength} bytes, expected ${n * rb}`);
          w.put(r0, bytes);
        }
      } catch (e) {
        backend.freeWeight(w.weight);
        throw e;
      }
      return w.weight;
    },
    loadVector(data) {
      const b = backend.alloc(data.length, "f32") as WasmBuf;
      f32.set(data, b.ptr >>> 2);
      return b;
    },
    freeWeight(weight) {
      const w = weight as WasmWeight;
      shards.release(w.shard, w.s ? [w.q, w.s] : [w.q], w.placed);
    },

    getRows(weight, ids, out) {
      const w = weight as WasmWeight;
      const o = asF32(out, ids.length * w.cols, "getRows output");
      const L = w.layout;
      for (let t = 0; t < ids.length; t++) {
        const id = ids[t]!;
        if (!(id >= 0 && id < w.rows)) throw new UserError(`token id ${id} is outside the vocabulary (0..${w.rows - 1})`);
        const dst = o.ptr + t * w.cols * 4;
        const e = w.shard.exports;
        const row = (to: number) => {
          if (L.floatKind !== undefined) e.rowFloat!(L.floatKind, w.q, w.cols, id, to);
          else e[L.row!]!(w.q, w.s, w.cols / L.block, id, to);
        };
        if (w.shard.index) shards.row(w.shard, row, w.cols, dst);
        else row(dst);
      }
    },

    matmul(weight, x, nTokens, out) {
      const w = weight as WasmWeight;
      const xs = asF32(x, nTokens * w.cols, "matmul input");
      const o = asF32(out, nTokens * w.rows, "matmul output");
      if (nTokens <= 0) return;
      const L = w.layout;
      const { act, stride } = quantizeActivations(L.act, xs, w.cols, nTokens);
      const mode = matmulMode(w.type, w.cols, w.rows, nTokens);
      if (w.shard.index) {
        shards.matmul(pool, w.shard, L.kernel, w.q, w.s, w.cols, w.rows, act, stride, nTokens, o.ptr, w.rows * w.cols * nTokens >= BIG, mode);
        return;
      }
      const d = pool.begin();
      d[0] = OP.MATMUL; d[1] = L.kernel; d[2] = w.q; d[3] = w.s; d[4] = w.cols; d[5] = w.rows;
      d[6] = act; d[7] = stride; d[8] = nTokens; d[9] = o.ptr; d[10] = mode;
      pool.run(w.rows * w.cols * nTokens >= BIG);
    },

    matmulMany(weights, x, nTokens, outs) {
      const ws = weights as readonly WasmWeight[];
      if (ws.length !== outs.length) throw new Error("matmulMany: one output per weight");
      const first = ws[0];
      // One quantization and one dispatch need one activation format, one width and shard 0.
      if (!first || ws.some((w) => w.layout.act !== first.layout.act || w.cols !== first.cols || w.shard.index !== 0)) {
        ws.forEach((w, i) => backend.matmul(w, x, nTokens, outs[i]!));
        return;
      }
      const xs = asF32(x, nTokens * first.cols, "matmul input");
      for (let i = 0; i < ws.length; i++) asF32(outs[i]!, nTokens * ws[i]!.rows, "matmul output");
      if (nTokens <= 0) return;
      const { act, stride } = quantizeActivations(first.layout.act, xs, first.cols, nTokens);
      // The kernels' table (kernels/index.ts MM_ENTRY), written in place: no arrays per token.
      const t = scratchOf("mmTable", 32 * ws.length);
      let units = 0, work = 0;
      for (let i = 0, e = t >>> 2; i < ws.length; i++, e += 8) {
        const w = ws[i]!;
        i32[e] = w.layout.kernel; i32[e + 1] = w.q; i32[e + 2] = w.s; i32[e + 3] = w.cols; i32[e + 4] = w.rows;
        i32[e + 5] = asBuf(outs[i]!).ptr; i32[e + 6] = matmulMode(w.type, w.cols, w.rows, nTokens); i32[e + 7] = units;
        units += Math.ceil(w.rows / 4);
        work += w.rows * w.cols * nTokens;
      }
      const d = pool.begin();
      d[0] = OP.MATMUL_MULTI; d[1] = ws.length; d[2] = t; d[3] = act; d[4] = stride; d[5] = nTokens; d[6] = units;
      pool.run(work >= BIG);
    },

    rmsNorm(x, weight, nTokens, width, eps, out) {
      const xs = asF32(x, nTokens * width, "rmsNorm input"), ws = asF32(weight, width, "rmsNorm weight");
      const o = asF32(out, nTokens * width, "rmsNorm output");
      const d = pool.begin();
      d[0] = OP.RMSNORM; d[1] = xs.ptr; d[2] = ws.ptr; d[3] = nTokens; d[4] = width; d[6] = o.ptr;
      // eps as the caller's double: `mean + eps` is rounded to f32 once, as in the reference.
      descF64(d)[4] = eps;
      pool.run(nTokens > 1 && nTokens * width >= BIG);
    },

    rope(x, nTokens, nHeads, headDim, positions, p) {
      const xs = asF32(x, nTokens * nHeads * headDim, "rope input");
      if (p.dims > headDim || p.dims % 2) throw new Error(`rope: ${p.dims} rotated dims do not fit a head of ${headDim}`);
      const half = p.dims / 2;
      if (ropeCos.length < half) { ropeCos = new Float32Array(half); ropeSin = new Float32Array(half); }
      const tab = scratchOf("rope", nTokens * p.dims * 4);
      // Q and K of every layer rotate by the same positions: the angle table is filled once per forward pass.
      if (ropeMemo.params !== p || ropeMemo.tab !== tab || !sameInts(ropeMemo.positions, positions.subarray(0, nTokens))) {
        for (let t = 0; t < nTokens; t++) {
          ropeAngles(positions[t]!, p, ropeCos, ropeSin);
          const base = (tab >>> 2) + t * p.dims;
          f32.set(ropeCos.subarray(0, half), base);
          f32.set(ropeSin.subarray(0, half), base + half);
        }
        ropeMemo = { positions: positions.slice(0, nTokens), params: p, tab };
      }
      const d = pool.begin();
      d[0] = OP.ROPE; d[1] = xs.ptr; d[2] = nTokens; d[3] = nHeads; d[4] = headDim; d[5] = tab; d[6] = p.dims; d[7] = p.neox ? 1 : 0;
      pool.run(nTokens * nHeads * headDim >= BIG);
    },

    setRows(cache, width, cells, src) {
      const c = asBuf(cache);
      const s = asF32(src, cells.length * width, "setRows source");
      for (const cell of cells) {
        if (!(cell >= 0 && (cell + 1) * width <= c.length)) throw new RangeError(`setRows: cell ${cell} is outside the cache`);
      }
      const cp = writeInts("cells", cells);
      const d = pool.begin();
      d[0] = OP.SETROWS; d[1] = c.ptr; d[2] = c.dtype === "f16" ? 1 : 0; d[3] = width; d[4] = cp; d[5] = cells.length; d[6] = s.ptr;
      pool.run(cells.length * width >= BIG);
    },

    attention(q, kCache, vCache, span, shape, out) {
      attention(q, kCache, vCache, span, shape, out);
    },

    siluMul(gate, up, n, out) {
      const g = asF32(gate, n, "siluMul gate"), u = asF32(up, n, "siluMul up"), o = asF32(out, n, "siluMul output");
      const d = pool.begin();
      d[0] = OP.SILU; d[1] = g.ptr; d[2] = u.ptr; d[3] = n; d[4] = o.ptr;
      pool.run(n >= BIG);
    },

    add(a, b, n, out) {
      const x = asF32(a, n, "add a"), y = asF32(b, n, "add b"), o = asF32(out, n, "add output");
      const d = pool.begin();
      d[0] = OP.ADD; d[1] = x.ptr; d[2] = y.ptr; d[3] = n; d[4] = o.ptr;
      pool.run(n >= BIG * 4);
    },

    addBias(x, bias, nTokens, width) {
      const xs = asF32(x, nTokens * width, "addBias input"), b = asF32(bias, width, "bias");
      const d = pool.begin();
      d[0] = OP.ADDBIAS; d[1] = xs.ptr; d[2] = b.ptr; d[3] = nTokens; d[4] = width;
      pool.run(nTokens > 1 && nTokens * width >= BIG * 4);
    },

    gatherRows(src, width, rows, dst) {
      const s = asF32(src, 0, "gatherRows source"), o = asF32(dst, rows.length * width, "gatherRows output");
      for (let t = 0; t < rows.length; t++) {
        const r = rows[t]!;
        if (!(r >= 0 && (r + 1) * width <= s.length)) throw new RangeError(`gatherRows: row ${r} is outside the source`);
        f32.copyWithin((o.ptr >>> 2) + t * width, (s.ptr >>> 2) + r * width, (s.ptr >>> 2) + (r + 1) * width);
      }
    },

    flush: async () => {},
    dispose() {
      pool.dispose();
    },
  };

  function weightRowBytes(type: GgmlType, cols: number): number {
    const info = ggmlTypeInfo(type);
    const rb = info && rowBytes(info, cols);
    if (rb === undefined) throw new UserError(`weight of type ${ggmlTypeName(type)} with ${cols} columns is not supported`);
    return rb;
  }

  /**
   * Places a weight (in the first memory with room) and returns a writer that takes its GGUF rows
   * in order, `chunkRows` at a time: quantized types are repacked through a bounded staging area,
   * float types copied in place, so no second full copy of the weight exists at any time.
   */
  function weightWriter(type: GgmlType, cols: number, rows: number): { weight: WasmWeight; chunkRows: number; put(r0: number, bytes: Uint8Array): void } {
    const rb = weightRowBytes(type, cols);
    const layout = layoutOf(type);
    if (!layout) throw new UserError(`no matrix kernel for weights of GGML type ${ggmlTypeName(type)}`);
    const nb = cols / layout.block;
    const groups = Math.ceil(rows / 4);
    const place = layout.floatKind !== undefined ? rb * rows + 64 : groups * nb * (layout.qPerGroupBlock + layout.sPerGroupBlock) + 2 * WEIGHT_PAD + 128;
    const sh = shards.place(place);
    const heap = sh.heap;
    if (layout.floatKind !== undefined) {
      const q = heap.alloc(rb * rows);
      return {
        weight: new WasmWeight(type, cols, rows, layout, q, 0, sh, place),
        chunkRows: Math.max(1, Math.floor((4 << 20) / rb)),
        put: (r0, bytes) => sh.u8().set(bytes, q + r0 * rb),
      };
    }
    const q = heap.alloc(groups * nb * layout.qPerGroupBlock + WEIGHT_PAD);
    const s = heap.alloc(groups * nb * layout.sPerGroupBlock + WEIGHT_PAD);
    // Padding rows of the last group are zero so they compute harmless zeros.
    sh.u8().fill(0, q + Math.floor(rows / 4) * nb * layout.qPerGroupBlock, q + groups * nb * layout.qPerGroupBlock);
    sh.u8().fill(0, s + Math.floor(rows / 4) * nb * layout.sPerGroupBlock, s + groups * nb * layout.sPerGroupBlock);
    // Whole row groups per chunk of ≤ 4 MiB, staged in shard 0 scratch or in a shard's transfer area
    // (only the part of that area a decode step touches stays resident).
    const chunkRows = Math.max(4, Math.floor(Math.min(sh.index ? sh.xferBytes : Infinity, 4 << 20) / rb / 4) * 4);
    if (sh.index && Math.min(rows, chunkRows) * rb > sh.xferBytes) throw new UserError(`rows of ${rb} bytes do not fit the wasm shard transfer area`);
    const repack = sh.exports[layout.repack!]!;
    return {
      weight: new WasmWeight(type, cols, rows, layout, q, s, sh, place),
      chunkRows,
      put: (r0, bytes) => {
        const stage = sh.index ? sh.xfer : scratchOf("stage", Math.min(rows, chunkRows) * rb);
        sh.u8().set(bytes, stage); // a view taken after any allocation: a grown memory needs a new one
        repack(stage, bytes.byteLength / rb, r0, nb, q, s);
      },
    };
  }

  let spanMemo: {
    nTokens: number; kvWidth: number; size: number; nKv: number; cellsCopy: Int32Array; startCopy: Int32Array; countCopy: Int32Array;
    cells: number; start: number; count: number;
  } | undefined;

  function attention(q: Buf, kCache: Buf, vCache: Buf, span: AttentionSpan, shape: AttentionShape, out: Buf): void {
    const { nTokens, nHeads, nKvHeads, headDim, scale } = shape;
    if (nHeads % nKvHeads) throw new Error(`attention: ${nHeads} heads are not a multiple of ${nKvHeads} KV heads`);
    const qs = asF32(q, nTokens * nHeads * headDim, "attention q"), o = asF32(out, nTokens * nHeads * headDim, "attention output");
    const k = asBuf(kCache), v = asBuf(vCache);
    if (k.dtype !== v.dtype) throw new Error("attention: K and V caches must have the same dtype");
    const kvWidth = nKvHeads * headDim;
    // Every layer of a forward pass gets the same span: checked and copied in once (compared by value,
    // so a caller may reuse its arrays).
    const size = Math.min(k.length, v.length);
    let sp = spanMemo;
    if (!sp || sp.nTokens !== nTokens || sp.kvWidth !== kvWidth || sp.size !== size || !sameInts(sp.cellsCopy, span.cells)
      || !sameInts(sp.startCopy, span.start.subarray(0, nTokens)) || !sameInts(sp.countCopy, span.count.subarray(0, nTokens))) {
      for (let t = 0; t < nTokens; t++) {
        const st = span.start[t]!, cnt = span.count[t]!;
        if (!(cnt > 0 && st >= 0 && st + cnt <= span.cells.length)) throw new RangeError(`attention: bad span for token ${t}`);
      }
      let maxCell = 0;
      for (const cell of span.cells) {
        if (!(cell >= 0 && (cell + 1) * kvWidth <= size)) throw new RangeError(`attention: cell ${cell} is outside the cache`);
      }
      for (let t = 0; t < nTokens; t++) {
        for (let j = span.start[t]!; j < span.start[t]! + span.count[t]!; j++) maxCell = Math.max(maxCell, span.cells[j]!);
      }
      // llama.cpp's KQ view covers n_kv cells: the used ones rounded up to 256, at most the cache.
      const cacheCells = Math.floor(k.length / kvWidth);
      const nKv = Math.min(cacheCells, Math.max(256, Math.ceil((maxCell + 1) / 256) * 256));
      sp = spanMemo = {
        nTokens, kvWidth, size, nKv,
        cellsCopy: span.cells.slice(), startCopy: span.start.slice(0, nTokens), countCopy: span.count.slice(0, nTokens),
        cells: writeInts("attnCells", span.cells),
        start: writeInts("attnStart", span.start.subarray(0, nTokens)),
        count: writeInts("attnCount", span.count.subarray(0, nTokens)),
      };
    }
    const { nKv, cells, start, count } = sp;
    const f16 = k.dtype === "f16";
    // The kernels llama.cpp's mul_mat picks for KQ (q is a permuted view: tinyBLAS only after the
    // f16 conversion) and KQV (see attentionRef in ../ref/index.ts).
    const kqTiny = f16 && nTokens >= 2 && headDim % 16 === 0 && nKv % 4 === 0;
    const kqvTiny = nTokens >= 2 && nKv % 16 === 0 && headDim % 4 === 0;
    const group = nHeads / nKvHeads;
    const perThread = Math.ceil(((group * headDim + 4 * headDim + group * nKv + group * 64 * headDim) * 4) / 64) * 64;
    const sc = scratchOf("scores", perThread * threads);
    const d = pool.begin();
    d[0] = OP.ATTN; d[1] = qs.ptr; d[2] = k.ptr; d[3] = v.ptr; d[4] = f16 ? 1 : 0; d[5] = cells; d[6] = start;
    d[7] = nTokens; d[8] = nHeads; d[9] = nKvHeads; d[10] = headDim; d[13] = o.ptr; d[14] = sc; d[15] = perThread; d[16] = count;
    d[17] = nKv; d[18] = (kqTiny ? 1 : 0) | (kqvTiny ? 2 : 0);
    descF64(d)[10] = scale;
    pool.run(nTokens * nKvHeads > 1);
  }

  return backend;
}
