// The reference backend: plain TypeScript, written for clarity, the oracle every faster backend is
// checked against. Weights stay in their GGML layout and are dequantized one row at a time, so
// memory stays near the file size. Quantized matmuls quantize each activation row to the
// weight's dot-product type first, exactly as llama.cpp does, so logits agree with it.

import { GgmlType } from "../../format/ggml.ts";
import { ggmlTypeInfo, ggmlTypeName, rowBytes } from "../../format/ggml.ts";
import { dequantizeRow } from "../../format/quant.ts";
import { f16ToF32, f32ToF16 } from "../../format/f16.ts";
import { UserError } from "../../errors.ts";
import type { AttentionShape, AttentionSpan, Backend, Buf, Weight } from "../types.ts";
import { dotKernel, dotValues, quantizeActivation, vecDot, vecDotType } from "./vecdot.ts";
import { siluScalar, vExpf, vSilu } from "./ggml-math.ts";
import { ropeAngles } from "./rope.ts";

class RefBuf implements Buf {
  readonly length: number;
  readonly dtype: "f32" | "f16";
  /** f32 values, or f16 bit patterns for an f16 buffer. */
  readonly data: Float32Array | Uint16Array;
  constructor(length: number, dtype: "f32" | "f16") {
    this.length = length;
    this.dtype = dtype;
    this.data = dtype === "f32" ? new Float32Array(length) : new Uint16Array(length);
  }
  get(i: number): number {
    return this.dtype === "f32" ? this.data[i]! : f16ToF32(this.data[i]!);
  }
  set(i: number, v: number): void {
    if (this.dtype === "f32") this.data[i] = v;
    else this.data[i] = f32ToF16(v);
  }
}

class RefWeight implements Weight {
  readonly type: GgmlType;
  readonly cols: number;
  readonly rows: number;
  readonly bytes: Uint8Array;
  readonly rowBytes: number;
  constructor(type: GgmlType, cols: number, rows: number, bytes: Uint8Array, rowBytes: number) {
    this.type = type;
    this.cols = cols;
    this.rows = rows;
    this.bytes = bytes;
    this.rowBytes = rowBytes;
  }
}

function f32(buf: Buf): Float32Array {
  const b = buf as RefBuf;
  if (b.dtype !== "f32") throw new Error("reference backend: expected an f32 buffer");
  return b.data as Float32Array;
}

export function createRefBackend(): Backend {
  // Scratch rows reused across calls (the reference backend is single-threaded).
  let rowScratch = new Float32Array(0);
  let actScratch = new Uint8Array(0);
  const scratchRow = (n: number) => (rowScratch.length >= n ? rowScratch : (rowScratch = new Float32Array(n)));
  const scratchAct = (n: number) => (actScratch.length >= n ? actScratch : (actScratch = new Uint8Array(n)));

  return {
    name: "ref",

    alloc: (length, dtype = "f32") => new RefBuf(length, dtype),
    free: () => {},
    write(buf, data, offset = 0) {
      const b = buf as RefBuf;
      if (b.dtype === "f32") (b.data as Float32Array).set(data, offset);
      else for (let i = 0; i < data.length; i++) b.set(offset + i, data[i]!);
    },
    read(buf, offset = 0, length = buf.length - offset) {
      const b = buf as RefBuf;
      if (b.dtype === "f32") return (b.data as Float32Array).slice(offset, offset + length);
      const out = new Float32Array(length);
      for (let i = 0; i < length; i++) out[i] = b.get(offset + i);
      return out;
    },

    loadWeight(type, cols, rows, bytes) {
      const info = ggmlTypeInfo(type);
      const rb = info && rowBytes(info, cols);
      if (rb === undefined) throw new UserError(`weight of type ${ggmlTypeName(type)} with ${cols} columns is not supported`);
      if (bytes.byteLength !== rb * rows) throw new Error(`weight has ${bytes.byteLength} bytes, expected ${rb * rows}`);
      vecDotType(type); // throws for types without a dot product
      return new RefWeight(type, cols, rows, bytes, rb);
    },
    loadVector(data) {
      const b = new RefBuf(data.length, "f32");
      (b.data as Float32Array).set(data);
      return b;
    },
    freeWeight: () => {},

    getRows(weight, ids, out) {
      const w = weight as RefWeight;
      const o = f32(out);
      for (let t = 0; t < ids.length; t++) {
        const id = ids[t]!;
        if (id < 0 || id >= w.rows) throw new UserError(`token id ${id} is outside the vocabulary (0..${w.rows - 1})`);
        dequantizeRow(w.type, w.bytes, id * w.rowBytes, w.cols, o, t * w.cols);
      }
    },

    matmul(weight, x, nTokens, out) {
      const w = weight as RefWeight;
      const xs = f32(x);
      const o = f32(out);
      const n = w.cols;
      const dotType = vecDotType(w.type);
      const dotInfo = ggmlTypeInfo(dotType)!;
      const actBytes = rowBytes(dotInfo, n)!;
      const act = scratchAct(actBytes);
      // llama.cpp picks its kernel per matrix and batch size (repacked gemv/gemm, llamafile's
      // tinyBLAS for prompt batches, or vec_dot); each rounds differently, so we pick the same.
      for (let t = 0; t < nTokens; t++) {
        const kernel = dotKernel(w.type, n, w.rows, nTokens, t);
        quantizeActivation(dotType, xs, t * n, n, act, 0);
        for (let r = 0; r < w.rows; r++) {
          o[t * w.rows + r] = vecDot(w.type, w.bytes, r * w.rowBytes, act, 0, n, kernel);
        }
      }
    },

    rmsNorm(x, weight, nTokens, width, eps, out) {
      const xs = f32(x), ws = f32(weight), o = f32(out);
      for (let t = 0; t < nTokens; t++) {
        const base = t * width;
        // ggml_compute_forward_rms_norm_f32: f32 squares summed in double, then f32 arithmetic.
        let sum = 0;
        for (let i = 0; i < width; i++) sum += Math.fround(xs[base + i]! * xs[base + i]!);
        const fr = Math.fround;
        const scale = fr(1 / fr(Math.sqrt(fr(fr(sum / width) + eps))));
        for (let i = 0; i < width; i++) o[base + i] = Math.fround(xs[base + i]! * scale) * ws[i]!;
      }
    },

    rope(x, nTokens, nHeads, headDim, positions, p) {
      const xs = f32(x);
      const half = p.dims / 2;
      const cos = scratchRow(p.dims);
      const sin = new Float32Array(half);
      for (let t = 0; t < nTokens; t++) {
        ropeAngles(positions[t]!, p, cos, sin);
        for (let h = 0; h < nHeads; h++) {
          const base = (t * nHeads + h) * headDim;
          for (let i = 0; i < half; i++) {
            // Normal layout rotates adjacent pairs; NEOX rotates element i with i + dims/2.
            const a = base + (p.neox ? i : 2 * i);
            const b = a + (p.neox ? half : 1);
            const x0 = xs[a]!, x1 = xs[b]!;
            // rotate_pairs as GCC compiles it (FP contraction): the second product is rounded
            // to f32, the first is fused: fma(x0, cos, −x1·sin) and fma(x0, sin, x1·cos).
            const fr = Math.fround;
            xs[a] = x0 * cos[i]! - fr(x1 * sin[i]!);
            xs[b] = x0 * sin[i]! + fr(x1 * cos[i]!);
          }
        }
      }
    },

    setRows(cache, width, cells, src) {
      const c = cache as RefBuf;
      const s = f32(src);
      for (let t = 0; t < cells.length; t++) {
        const dst = cells[t]! * width;
        for (let i = 0; i < width; i++) c.set(dst + i, s[t * width + i]!);
      }
    },

    attention(q, kCache, vCache, span, shape, out) {
      attentionRef(f32(q), kCache as RefBuf, vCache as RefBuf, span, shape, f32(out));
    },

    siluMul(gate, up, n, out) {
      // ggml_vec_swiglu_f32: `ggml_v_silu` on whole vectors of 16, libm expf on the rest (rows
      // are treated as one run of n values, which is the same when the row width is a multiple of 16).
      const g = f32(gate), u = f32(up), o = f32(out);
      const vec = n - (n % 16);
      for (let i = 0; i < n; i++) o[i] = (i < vec ? vSilu(g[i]!) : siluScalar(g[i]!)) * u[i]!;
    },

    add(a, b, n, out) {
      const as = f32(a), bs = f32(b), o = f32(out);
      for (let i = 0; i < n; i++) o[i] = as[i]! + bs[i]!;
    },

    addBias(x, bias, nTokens, width) {
      const xs = f32(x), bs = f32(bias);
      for (let t = 0; t < nTokens; t++) for (let i = 0; i < width; i++) xs[t * width + i]! += bs[i]!;
    },

    gatherRows(src, width, rows, dst) {
      const s = f32(src), d = f32(dst);
      for (let t = 0; t < rows.length; t++) d.set(s.subarray(rows[t]! * width, (rows[t]! + 1) * width), t * width);
    },

    flush: async () => {},
    dispose: () => {},
  };
}

// Attention as llama.cpp builds it without flash attention (build_attn_mha): kq = K·q over the
// cache's first n_kv cells (n_kv = the used cells rounded up to 256, at most the cache size; the
// rest masked to −inf), softmax(kq·scale + mask), kqv = V·p. Both products go through mul_mat,
// which converts the f32 operand to the cache type (q and p become f16 with an f16 cache) and
// uses llamafile's tinyBLAS for prompt batches (≥ 2 tokens) and ggml_vec_dot_f16/_f32 for one
// token; the softmax uses the AVX-512 `ggml_v_expf` on vectors of 16 and sums each vector's
// `_mm512_reduce_add_ps` in double. A cell's position in those vectors is its cache index, so the
// sums below run over cache cells with masked ones contributing exact zeros.
const f16Round = (v: number) => f16ToF32(f32ToF16(v));

function attentionRef(q: Float32Array, k: RefBuf, v: RefBuf, span: AttentionSpan, shape: AttentionShape, out: Float32Array): void {
  const { nTokens, nHeads, nKvHeads, headDim, scale } = shape;
  const fr = Math.fround;
  const group = nHeads / nKvHeads;
  const kvWidth = nKvHeads * headDim;
  const cacheCells = Math.floor(k.length / kvWidth);
  let maxCell = 0;
  for (let t = 0; t < nTokens; t++) {
    for (let j = 0; j < span.count[t]!; j++) maxCell = Math.max(maxCell, span.cells[span.start[t]! + j]!);
  }
  const nKv = Math.min(cacheCells, Math.max(256, Math.ceil((maxCell + 1) / 256) * 256));
  const f16 = k.dtype === "f16";
  const roundQ = f16 ? f16Round : fr;
  const roundP = v.dtype === "f16" ? f16Round : fr;
  // KQ: src1 (q) is a permuted view, so tinyBLAS only runs after the f16 conversion (f16 cache).
  const kqKind = f16 && nTokens >= 2 && headDim % 16 === 0 && nKv % 4 === 0 ? "tinyblas" : f16 ? "f16" : "f32";
  // KQV: p is contiguous, so tinyBLAS runs for either cache type.
  const kqvKind = nTokens >= 2 && nKv % 16 === 0 && headDim % 4 === 0 ? "tinyblas" : v.dtype === "f16" ? "f16" : "f32";
  const qh = new Float32Array(headDim);
  const kr = new Float32Array(headDim);
  const w = new Float32Array(nKv); // scores, then probabilities, by cache cell
  const vc = new Float32Array(nKv);
  const used = new Uint8Array(nKv);
  for (let t = 0; t < nTokens; t++) {
    const start = span.start[t]!, count = span.count[t]!;
    used.fill(0);
    for (let j = 0; j < count; j++) used[span.cells[start + j]!] = 1;
    for (let h = 0; h < nHeads; h++) {
      const qBase = (t * nHeads + h) * headDim;
      for (let i = 0; i < headDim; i++) qh[i] = roundQ(q[qBase + i]!);
      const kvOff = Math.floor(h / group) * headDim;
      let max = -Infinity;
      for (let c = 0; c < nKv; c++) {
        if (!used[c]) {
          w[c] = -Infinity;
          continue;
        }
        for (let i = 0; i < headDim; i++) kr[i] = k.get(c * kvWidth + kvOff + i);
        const s = fr(dotValues(kqKind, kr, qh, headDim) * scale);
        w[c] = s;
        if (s > max) max = s;
      }
      let sum = 0;
      const vec = nKv - (nKv % 16);
      for (let c0 = 0; c0 < vec; c0 += 16) {
        for (let c = c0; c < c0 + 16; c++) w[c] = vExpf(fr(w[c]! - max));
        sum += reduce16(w, c0);
      }
      for (let c = vec; c < nKv; c++) sum += w[c] = fr(Math.exp(fr(w[c]! - max)));
      const inv = fr(1 / sum);
      for (let c = 0; c < nKv; c++) w[c] = roundP(fr(w[c]! * inv));
      for (let i = 0; i < headDim; i++) {
        for (let c = 0; c < nKv; c++) vc[c] = used[c] ? v.get(c * kvWidth + kvOff + i) : 0;
        out[qBase + i] = dotValues(kqvKind, vc, w, nKv);
      }
    }
  }
}

/** `_mm512_reduce_add_ps` as GCC implements it (see vecdot.ts). */
function reduce16(v: Float32Array, o: number): number {
  const fr = Math.fround;
  const t = new Array<number>(8);
  for (let i = 0; i < 8; i++) t[i] = fr(v[o + i]! + v[o + i + 8]!);
  const u0 = fr(t[0]! + t[4]!), u1 = fr(t[1]! + t[5]!), u2 = fr(t[2]! + t[6]!), u3 = fr(t[3]! + t[7]!);
  return fr(fr(u0 + u2) + fr(u1 + u3));
}
