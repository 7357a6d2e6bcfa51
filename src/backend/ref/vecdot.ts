// llama.cpp's CPU matrix-vector products, scalar reference, bit for bit. The peer we reproduce is
// node-llama-cpp 3.21.1's prebuilt CPU backend on x86-64; on an AVX-512 machine (the peer's Zen 5)
// it loads `libggml-cpu-zen4.so` (AVX2 + AVX-512 F/BW/VL/VNNI/BF16, FMA). What it computes for
// out[r] = W[r,:]·x depends on the weight type, the row count and the number of tokens, so
// `dotKernel` names the llama.cpp kernel and `vecDot` runs its arithmetic:
//
//  * The activation row is first quantized to the weight type's `vec_dot_type` (Q8_0, Q8_1, Q8_K,
//    F16, BF16; see `quantizeActivation`); integer block sums are then exact, only the f32 scaling
//    and the order of the f32 additions differ between kernels, and those are mirrored here.
//    fma(a,b,c) below means one f32 fused multiply-add; hsum8(v) = ((v0+v4)+(v2+v6)) +
//    ((v1+v5)+(v3+v7)); reduce16 is GCC's `_mm512_reduce_add_ps` (see below); every + and · is
//    rounded to f32.
//
//  * "vec_dot" (`ggml_vec_dot_<type>_<vec_dot_type>`, arch/x86/quants.c AVX2 code): eight f32
//    lanes acc[0..8). 32-value types (Q4_0, Q4_1, Q5_0, Q5_1, Q8_0): per block b,
//    lane_k = Σ_{j=4k..4k+3} w_j·x_j (ints), acc_k = fma(d_w·d_x, lane_k, acc_k); result hsum8(acc),
//    plus for Q4_1/Q5_1 summs = fma(m_w, s_x, summs) over blocks, added last. IQ4_NL keeps two lane
//    sets (even/odd blocks), adds them lane-wise before hsum8, and adds an odd last block as
//    fma(d, Σ w·x, sum). K-quants and IQ4_XS: per super-block, int lane_k = Σ over elements e with
//    (e mod 32) div 4 = k of scale(e)·w_e·x_e, acc_k = fma(d_w·d_x, f32(lane_k), acc_k); with
//    type-specific min terms (see `dotK`): Q2_K folds fma(−d_x·dmin_w, Σ min·bsum per lane pair,
//    acc_k) into the same lanes first; Q4_K keeps four min lanes; Q5_K a scalar min sum; Q6_K's
//    lanes use unsigned quants minus 32·(bsum·scale) per lane pair.
//
//  * "gemv"/"gemm": Q4_0, IQ4_NL, Q4_K and Q2_K weights whose row count is a multiple of 8 live in
//    the CPU_REPACK buffer (8 rows interleaved) and run `ggml_gemm_*_8x8` on whole groups of 4
//    tokens, `ggml_gemv_*_8x8` on the remaining tokens: one f32 accumulator per output,
//    acc = fma(Σ_block w·x (int), d_w·d_x, acc) over blocks; for Q4_K/Q2_K the integer sums run
//    over a super-block (gemv) or 64/128 values (gemm: Q4_K/Q2_K) and a second accumulator
//    accMin = fma(Σ min·bsum, dmin_w·d_x, accMin) over the same spans; result acc − accMin.
//    The interleaved layout changes nothing in this math, so the reference keeps the file layout.
//
//  * "tinyblas" (llamafile sgemm, only for ≥ 2 tokens): F32/F16 weights with cols % 16 = 0 and
//    rows % 4 = 0: sixteen f32 lanes, lane l = fma over elements i ≡ l (mod 16) in order, then
//    reduce16. BF16 (cols % 32 = 0): `_mm512_dpbf16_ps` on one 16-lane accumulator, then reduce16.
//    Quantized types there (`tinyBLAS_Q0_AVX`) compute exactly the 8-lane vec_dot formula, except
//    IQ4_NL, which then uses a single lane set.
//
//  * "iqp" (ggml-cpu/iqp.cpp, IQ4_XS with ≥ 8 tokens and rows % 8 = 0): acc = fma(Σ_superblock
//    scale·w·x (int), d_w·d_x, acc), one accumulator per output.
//
//  * F32/F16/BF16 "vec_dot" (one token) follow `ggml_vec_dot_f32/_f16/_bf16`'s AVX-512 code.
//
// No call allocates: scratch buffers are module-level and only grow.

import { UserError } from "../../errors.ts";
import { bf16ToF32, F16_TO_F32 } from "../../format/f16.ts";
import { GgmlType, ggmlTypeName } from "../../format/ggml.ts";
import { quantizedSize, quantizeRow } from "../../format/quant.ts";
import { IQ4NL_VALUES } from "../../format/quant-iq.ts";
import { readF32 } from "../../format/quant-k.ts";
import { quantizeQ8ActivationX86 } from "../../format/quant-legacy.ts";

const fr = Math.fround;

/** The activation type llama.cpp's CPU backend pairs with each weight type (type_traits_cpu). */
export function vecDotType(weightType: GgmlType): GgmlType {
  switch (weightType) {
    case GgmlType.F32: return GgmlType.F32;
    case GgmlType.F16: return GgmlType.F16;
    case GgmlType.BF16: return GgmlType.BF16;
    case GgmlType.Q4_0: case GgmlType.Q5_0: case GgmlType.Q8_0: case GgmlType.IQ4_NL: return GgmlType.Q8_0;
    case GgmlType.Q4_1: case GgmlType.Q5_1: return GgmlType.Q8_1;
    case GgmlType.Q2_K: case GgmlType.Q3_K: case GgmlType.Q4_K: case GgmlType.Q5_K: case GgmlType.Q6_K:
    case GgmlType.IQ4_XS: return GgmlType.Q8_K;
    default: throw new UserError(`no dot product for weights of GGML type ${ggmlTypeName(weightType)}`);
  }
}

/** Bytes one activation row of `n` values takes once quantized for `weightType`. */
export function activationBytes(weightType: GgmlType, n: number): number {
  return quantizedSize(vecDotType(weightType), n);
}

/**
 * Quantize `n` activations to `type` (a vec_dot_type) at `out[outOffset]`. Q8_0/Q8_1 default to
 * llama.cpp's x86 AVX path (multiplier 127/max, round-half-even), which is what an x86 peer runs;
 * `flavor: "ref"` gives `quantize_row_q8_0_ref`/`_q8_1_ref` (ARM/generic builds). Q8_K is the
 * reference on every platform (the repacked kernels' `quantize_mat_q8_K_4x8` and
 * `quantize_mat_q8_0_4x8` produce the same bytes); F16/BF16 are the plain conversions.
 */
export function quantizeActivation(
  type: GgmlType, x: Float32Array, xOffset: number, n: number, out: Uint8Array, outOffset: number,
  flavor: "x86" | "ref" = "x86",
): void {
  const size = quantizedSize(type, n);
  if (xOffset < 0 || xOffset + n > x.length || outOffset < 0 || outOffset + size > out.length) {
    throw new RangeError(`quantizeActivation ${ggmlTypeName(type)}: range outside the buffers`);
  }
  if (flavor === "x86" && (type === GgmlType.Q8_0 || type === GgmlType.Q8_1)) {
    quantizeQ8ActivationX86(x, xOffset, n, out, outOffset, type === GgmlType.Q8_1);
    return;
  }
  switch (type) {
    case GgmlType.F32: case GgmlType.F16: case GgmlType.BF16:
    case GgmlType.Q8_0: case GgmlType.Q8_1: case GgmlType.Q8_K:
      quantizeRow(type, x, xOffset, n, out, outOffset);
      return;
    default: throw new UserError(`GGML type ${ggmlTypeName(type)} is not an activation (vec_dot) type`);
  }
}

/** Which llama.cpp CPU kernel computes a product; see the top of this file. */
export type DotKernel = "vec_dot" | "gemv" | "gemm" | "tinyblas" | "iqp";

const REPACKED = new Set<GgmlType>([GgmlType.Q4_0, GgmlType.IQ4_NL, GgmlType.Q4_K, GgmlType.Q2_K]);

/**
 * The kernel llama.cpp's x86 AVX-512 CPU backend uses for token `token` of a `rows × cols` weight
 * multiplied by `nTokens` activation rows (ggml_compute_forward_mul_mat, the CPU_REPACK extra
 * buffer type chosen by `ggml_repack_get_optimal_repack_type` — whose forward runs gemm on whole
 * groups of 4 tokens and gemv on the rest — and `llamafile_sgemm`'s conditions).
 */
export function dotKernel(type: GgmlType, cols: number, rows: number, nTokens: number, token = 0): DotKernel {
  if (REPACKED.has(type) && rows % 8 === 0) return token < nTokens - (nTokens % 4) ? "gemm" : "gemv";
  // The IQ panel gemm (ggml-cpu/iqp.cpp) takes IQ grid types × Q8_K from 8 tokens on.
  if (type === GgmlType.IQ4_XS && nTokens >= 8 && rows % 8 === 0) return "iqp";
  if (nTokens >= 2 && rows % 4 === 0) {
    if ((type === GgmlType.F32 || type === GgmlType.F16) && cols % 16 === 0) return "tinyblas";
    if (type === GgmlType.BF16 && cols % 32 === 0) return "tinyblas";
  }
  if (nTokens >= 2 && type === GgmlType.IQ4_NL) return "tinyblas";
  return "vec_dot";
}

/**
 * Σ w·x over `n` values: `w` a row of `weightType` at `wOffset`, `xq` the activation row quantized
 * by `quantizeActivation(vecDotType(weightType), …)` at `xqOffset`, with llama.cpp's `kernel`
 * (default: its single-row `ggml_vec_dot_*`). Returns the f32 result.
 */
export function vecDot(
  weightType: GgmlType, w: Uint8Array, wOffset: number, xq: Uint8Array, xqOffset: number, n: number,
  kernel: DotKernel = "vec_dot",
): number {
  const wSize = quantizedSize(weightType, n);
  const xSize = activationBytes(weightType, n);
  if (wOffset < 0 || wOffset + wSize > w.length || xqOffset < 0 || xqOffset + xSize > xq.length) {
    throw new RangeError(`vecDot ${ggmlTypeName(weightType)}: ${n} values exceed the buffers`);
  }
  if (kernel === "gemv" || kernel === "gemm") {
    if (weightType === GgmlType.Q4_0 || weightType === GgmlType.IQ4_NL) return dotRepack32(weightType, w, wOffset, xq, xqOffset, n);
    if (weightType === GgmlType.Q4_K || weightType === GgmlType.Q2_K) return dotRepackK(weightType, w, wOffset, xq, xqOffset, n, kernel === "gemm");
  }
  if (kernel === "iqp" && weightType === GgmlType.IQ4_XS) return dotIqp(weightType, w, wOffset, xq, xqOffset, n);
  const tiny = kernel === "tinyblas";
  switch (weightType) {
    case GgmlType.F32: return tiny ? tinyF(w, wOffset, xq, xqOffset, n, 4) : dotF32(w, wOffset, xq, xqOffset, n);
    case GgmlType.F16: return tiny ? tinyF(w, wOffset, xq, xqOffset, n, 2) : dotF16(w, wOffset, xq, xqOffset, n);
    case GgmlType.BF16: return tiny ? tinyBF16(w, wOffset, xq, xqOffset, n) : dotBF16(w, wOffset, xq, xqOffset, n);
    case GgmlType.IQ4_NL: return tiny ? dotBlocks32(weightType, w, wOffset, xq, xqOffset, n) : dotIQ4_NL(w, wOffset, xq, xqOffset, n);
    case GgmlType.Q4_0: case GgmlType.Q4_1: case GgmlType.Q5_0: case GgmlType.Q5_1: case GgmlType.Q8_0:
      return dotBlocks32(weightType, w, wOffset, xq, xqOffset, n);
    case GgmlType.Q2_K: case GgmlType.Q3_K: case GgmlType.Q4_K: case GgmlType.Q5_K: case GgmlType.Q6_K: case GgmlType.IQ4_XS:
      return dotK(weightType, w, wOffset, xq, xqOffset, n);
    default: throw new UserError(`no dot product for weights of GGML type ${ggmlTypeName(weightType)}`);
  }
}

// ---------------------------------------------------------------- float types
//
// On x86 llama.cpp runs these with AVX-512 (the peer's CPU; AVX2 has the same shape with 8 lanes):
// four 16-lane f32 accumulators over chunks of 64 with FMA, summed pairwise (0+2, 1+3, then
// 0+1), then `_mm512_reduce_add_ps`'s halving tree; the leftover tail (n % 64) goes into a double
// (F16) or f32 (F32). The generic C would instead sum everything in double, which differs from
// what llama.cpp computes on x86 in the last bits, so we mirror the SIMD order. A product of two
// f16 (or bf16) values is exact in f32, so FMA and mul+add agree there; for F32 the FMA is
// emulated as one double operation rounded to f32 (off only in ~2^-29-rare double-rounding ties).
// Prompt batches (n_tokens ≥ 2) go through llamafile's tinyBLAS instead: `tinyF`, `tinyBF16`.

let fa = new Float32Array(0);
let fb = new Float32Array(0);
const lanes = new Float32Array(64);

function scratch(n: number): void {
  if (fa.length < n) {
    fa = new Float32Array(n);
    fb = new Float32Array(n);
  }
}

/** `_mm512_reduce_add_ps` as GCC implements it: 256-bit halves, 128-bit halves, pairs. */
function reduce16(v: Float32Array, o: number): number {
  const t0 = fr(v[o] + v[o + 8]), t1 = fr(v[o + 1] + v[o + 9]), t2 = fr(v[o + 2] + v[o + 10]), t3 = fr(v[o + 3] + v[o + 11]);
  const t4 = fr(v[o + 4] + v[o + 12]), t5 = fr(v[o + 5] + v[o + 13]), t6 = fr(v[o + 6] + v[o + 14]), t7 = fr(v[o + 7] + v[o + 15]);
  const u0 = fr(t0 + t4), u1 = fr(t1 + t5), u2 = fr(t2 + t6), u3 = fr(t3 + t7);
  return fr(fr(u0 + u2) + fr(u1 + u3));
}

/** The 4×16-lane FMA body of ggml_vec_dot_f32/_f16 over a[0..np), returning the reduced f32 sum. */
function simd64(a: Float32Array, b: Float32Array, np: number): number {
  lanes.fill(0);
  for (let i = 0; i < np; i += 64) {
    for (let k = 0; k < 64; k++) lanes[k] = fr(lanes[k] + a[i + k] * b[i + k]);
  }
  for (let k = 0; k < 16; k++) {
    lanes[k] = fr(lanes[k] + lanes[k + 32]);
    lanes[k + 16] = fr(lanes[k + 16] + lanes[k + 48]);
  }
  for (let k = 0; k < 16; k++) lanes[k] = fr(lanes[k] + lanes[k + 16]);
  return reduce16(lanes, 0);
}

function dotF32(w: Uint8Array, wo: number, x: Uint8Array, xo: number, n: number): number {
  scratch(n);
  for (let i = 0; i < n; i++) {
    fa[i] = readF32(w, wo + 4 * i);
    fb[i] = readF32(x, xo + 4 * i);
  }
  return dotValues("f32", fa, fb, n);
}

/**
 * The float dot products on f32 values (f16 inputs already widened): `ggml_vec_dot_f32` ("f32"),
 * `ggml_vec_dot_f16` ("f16") or one tinyBLAS output ("tinyblas", n % 16 = 0). The attention's
 * KQ and KQV products use these too.
 */
export function dotValues(kind: "f32" | "f16" | "tinyblas", fa: Float32Array, fb: Float32Array, n: number): number {
  if (kind === "tinyblas") {
    lanes.fill(0, 0, 16);
    for (let i = 0; i < n; i += 16) {
      for (let l = 0; l < 16; l++) lanes[l] = fr(fa[i + l] * fb[i + l] + lanes[l]);
    }
    return reduce16(lanes, 0);
  }
  const np = n & ~63;
  let sum = simd64(fa, fb, np);
  if (kind === "f16") {
    for (let i = np; i < n; i++) sum += fa[i] * fb[i]; // the tail in double
    return fr(sum);
  }
  // The tail loop `sumf += x[i]*y[i]` is compiled (GCC, AVX-512 build) as vector multiplies of 16
  // and then 8 with in-order adds, and a scalar FMA for the last < 8 values.
  const unfused = np + ((n - np) & ~7);
  let i = np;
  for (; i < unfused; i++) sum = fr(sum + fr(fa[i] * fb[i]));
  for (; i < n; i++) sum = fr(sum + fa[i] * fb[i]);
  return sum;
}

function dotF16(w: Uint8Array, wo: number, x: Uint8Array, xo: number, n: number): number {
  scratch(n);
  for (let i = 0; i < n; i++) {
    fa[i] = h16(w, wo + 2 * i);
    fb[i] = h16(x, xo + 2 * i);
  }
  return dotValues("f16", fa, fb, n); // the SIMD part widened to ggml_float (double) for the tail
}

/**
 * ggml_vec_dot_bf16 with AVX512_BF16: `_mm512_dpbf16_ps` on two accumulators (elements 0..31 and
 * 32..63 of each 64-chunk); lane j adds the products of pair (2j+1) then (2j); the two reduced
 * sums and the tail are added in double. (The instruction also flushes subnormals, not modelled.)
 */
function dotBF16(w: Uint8Array, wo: number, x: Uint8Array, xo: number, n: number): number {
  scratch(n);
  for (let i = 0; i < n; i++) {
    fa[i] = bf16ToF32(w[wo + 2 * i] | (w[wo + 2 * i + 1] << 8));
    fb[i] = bf16ToF32(x[xo + 2 * i] | (x[xo + 2 * i + 1] << 8));
  }
  lanes.fill(0);
  let i = 0;
  for (; i + 64 <= n; i += 64) {
    for (let c = 0; c < 2; c++) {
      for (let j = 0; j < 16; j++) {
        const e = i + 32 * c + 2 * j;
        const k = 16 * c + j;
        lanes[k] = fr(lanes[k] + fa[e + 1] * fb[e + 1]);
        lanes[k] = fr(lanes[k] + fa[e] * fb[e]);
      }
    }
  }
  let sum = reduce16(lanes, 0);
  sum += reduce16(lanes, 16);
  for (; i < n; i++) sum += fa[i] * fb[i];
  return fr(sum);
}


/**
 * llamafile `tinyBLAS<16, __m512, __m512, T, T, float>` for F32 (`bytes` 4) and F16 (2, the
 * activations converted to f16 first): one 16-lane accumulator per output, lane l = fma over the
 * elements i ≡ l (mod 16) in order, then `hsum` = `_mm512_reduce_add_ps`. Needs n % 16 = 0.
 */
function tinyF(w: Uint8Array, wo: number, x: Uint8Array, xo: number, n: number, bytes: 2 | 4): number {
  scratch(n);
  for (let i = 0; i < n; i++) {
    fa[i] = bytes === 4 ? readF32(w, wo + 4 * i) : h16(w, wo + 2 * i);
    fb[i] = bytes === 4 ? readF32(x, xo + 4 * i) : h16(x, xo + 2 * i);
  }
  return dotValues("tinyblas", fa, fb, n);
}

/** llamafile `tinyBLAS<32, __m512, __m512bh, bf16, bf16, float>`: `_mm512_dpbf16_ps` into one 16-lane accumulator. */
function tinyBF16(w: Uint8Array, wo: number, x: Uint8Array, xo: number, n: number): number {
  scratch(n);
  for (let i = 0; i < n; i++) {
    fa[i] = bf16ToF32(w[wo + 2 * i] | (w[wo + 2 * i + 1] << 8));
    fb[i] = bf16ToF32(x[xo + 2 * i] | (x[xo + 2 * i + 1] << 8));
  }
  lanes.fill(0, 0, 16);
  for (let i = 0; i < n; i += 32) {
    for (let j = 0; j < 16; j++) {
      const e = i + 2 * j;
      lanes[j] = fr(lanes[j] + fa[e + 1] * fb[e + 1]);
      lanes[j] = fr(lanes[j] + fa[e] * fb[e]);
    }
  }
  return reduce16(lanes, 0);
}

// ---------------------------------------------------------------- shared pieces of the x86 kernels

/** f32 fused multiply-add a·b + c (a, b, c f32): the product is exact in a double, one rounding to
 * double then one to f32 (differs from a true FMA only in ~2^-29-rare double-rounding ties). */
const fma = (a: number, b: number, c: number): number => fr(a * b + c);

/** `hsum_float_8` / tinyBLAS `hsum(__m256)`: (0+4, 1+5, 2+6, 3+7), then (0+2, 1+3), then 0+1. */
function hsum8(v: Float32Array): number {
  const t0 = fr(v[0] + v[4]), t1 = fr(v[1] + v[5]), t2 = fr(v[2] + v[6]), t3 = fr(v[3] + v[7]);
  return fr(fr(t0 + t2) + fr(t1 + t3));
}

const acc8 = new Float32Array(8);
const acc8b = new Float32Array(8);
/** Integer lanes of one block: lane k holds what `madd_epi16(maddubs(...))` leaves in int32 lane k. */
const lane = new Int32Array(8);
/** One block's weights as the integers the kernels multiply (natural element order). */
const wv = new Int32Array(256);
/** Per-16-element sub-block scales (K-quants; 32-element scales are stored twice). */
const sc = new Int32Array(16);
/** Per-16-element sub-block mins (Q2_K) or per-32-element mins (Q4_K/Q5_K, indices 0..7). */
const mn = new Int32Array(16);

const i8 = (b: Uint8Array, o: number): number => (b[o] << 24) >> 24;
const h16 = (b: Uint8Array, o: number): number => F16_TO_F32[b[o] | (b[o + 1] << 8)];

function qh32(b: Uint8Array, o: number): number {
  return (b[o] | (b[o + 1] << 8) | (b[o + 2] << 16) | (b[o + 3] << 24)) >>> 0;
}

// ---------------------------------------------------------------- 32-value blocks (× Q8_0 / Q8_1)

interface Block32 {
  /** bytes per weight block, offset of the quants, offset of the min (Q4_1/Q5_1) or -1 */
  readonly size: number;
  readonly min: number;
  /** bytes per activation block (Q8_0 34, Q8_1 36) and offset of its quants */
  readonly xSize: number;
  readonly xq: number;
}

const B32: Partial<Record<GgmlType, Block32>> = {
  [GgmlType.Q4_0]: { size: 18, min: -1, xSize: 34, xq: 2 },
  [GgmlType.Q4_1]: { size: 20, min: 2, xSize: 36, xq: 4 },
  [GgmlType.Q5_0]: { size: 22, min: -1, xSize: 34, xq: 2 },
  [GgmlType.Q5_1]: { size: 24, min: 2, xSize: 36, xq: 4 },
  [GgmlType.Q8_0]: { size: 34, min: -1, xSize: 34, xq: 2 },
  [GgmlType.IQ4_NL]: { size: 18, min: -1, xSize: 34, xq: 2 },
};

/** Weight values of one 32-block into wv[0..32): element j < 16 is byte j's low nibble, j ≥ 16 its high one. */
function unpack32(type: GgmlType, w: Uint8Array, o: number): void {
  switch (type) {
    case GgmlType.Q4_0: case GgmlType.Q4_1: case GgmlType.IQ4_NL: {
      const qs = o + (type === GgmlType.Q4_1 ? 4 : 2);
      const off = type === GgmlType.Q4_0 ? 8 : 0;
      for (let j = 0; j < 16; j++) {
        const q = w[qs + j];
        if (type === GgmlType.IQ4_NL) {
          wv[j] = IQ4NL_VALUES[q & 0xf];
          wv[j + 16] = IQ4NL_VALUES[q >> 4];
        } else {
          wv[j] = (q & 0xf) - off;
          wv[j + 16] = (q >> 4) - off;
        }
      }
      return;
    }
    case GgmlType.Q5_0: case GgmlType.Q5_1: {
      const one = type === GgmlType.Q5_1;
      const qh = qh32(w, o + (one ? 4 : 2));
      const qs = o + (one ? 8 : 6);
      const off = one ? 0 : 16;
      for (let j = 0; j < 16; j++) {
        const q = w[qs + j];
        wv[j] = ((q & 0xf) | (((qh >>> j) & 1) << 4)) - off;
        wv[j + 16] = ((q >> 4) | (((qh >>> (j + 16)) & 1) << 4)) - off;
      }
      return;
    }
    case GgmlType.Q8_0:
      for (let j = 0; j < 32; j++) wv[j] = i8(w, o + 2 + j);
      return;
    default: throw new Error(`unpack32: ${ggmlTypeName(type)}`);
  }
}

/** lane[k] = Σ_{j=4k..4k+3} wv[j]·x[j]: `mul_sum_i8_pairs_float` / VNNI `dpbusd` on one 32-block. */
function lanes32(x: Uint8Array, xo: number): void {
  for (let k = 0; k < 8; k++) {
    let s = 0;
    for (let j = 4 * k; j < 4 * k + 4; j++) s += wv[j] * i8(x, xo + j);
    lane[k] = s;
  }
}

function blockSum32(x: Uint8Array, xo: number): number {
  let s = 0;
  for (let j = 0; j < 32; j++) s += wv[j] * i8(x, xo + j);
  return s;
}

/**
 * x86 `ggml_vec_dot_{q4_0,q5_0,q8_0}_q8_0`, `_{q4_1,q5_1}_q8_1` (AVX2 code, also in the AVX-512
 * builds) and llamafile's `tinyBLAS_Q0_AVX` (same arithmetic): eight f32 lanes, per block
 * lane_k = fma(d_w·d_x, int lane_k, lane_k), then hsum8; Q4_1/Q5_1 add Σ m·s accumulated apart.
 */
function dotBlocks32(type: GgmlType, w: Uint8Array, wo: number, x: Uint8Array, xo: number, n: number): number {
  const { size, min, xSize, xq } = B32[type]!;
  acc8.fill(0);
  let summs = 0;
  for (let b = 0; b < n / 32; b++, wo += size, xo += xSize) {
    unpack32(type, w, wo);
    lanes32(x, xo + xq);
    const d = fr(h16(w, wo) * h16(x, xo));
    for (let k = 0; k < 8; k++) acc8[k] = fma(d, lane[k], acc8[k]);
    if (min >= 0) summs = fma(h16(w, wo + min), h16(x, xo + 2), summs);
  }
  return min >= 0 ? fr(hsum8(acc8) + summs) : hsum8(acc8);
}

/** x86 `ggml_vec_dot_iq4_nl_q8_0`: even and odd blocks in two lane sets; an odd last block is added scalar. */
function dotIQ4_NL(w: Uint8Array, wo: number, x: Uint8Array, xo: number, n: number): number {
  const nb = n / 32;
  acc8.fill(0);
  acc8b.fill(0);
  let b = 0;
  for (; b + 1 < nb; b += 2, wo += 36, xo += 68) {
    unpack32(GgmlType.IQ4_NL, w, wo);
    lanes32(x, xo + 2);
    const d1 = fr(h16(x, xo) * h16(w, wo));
    for (let k = 0; k < 8; k++) acc8[k] = fma(d1, lane[k], acc8[k]);
    unpack32(GgmlType.IQ4_NL, w, wo + 18);
    lanes32(x, xo + 36);
    const d2 = fr(h16(x, xo + 34) * h16(w, wo + 18));
    for (let k = 0; k < 8; k++) acc8b[k] = fma(d2, lane[k], acc8b[k]);
  }
  for (let k = 0; k < 8; k++) acc8[k] = fr(acc8[k] + acc8b[k]);
  let sumf = hsum8(acc8);
  if (b < nb) {
    unpack32(GgmlType.IQ4_NL, w, wo);
    sumf = fma(fr(h16(x, xo) * h16(w, wo)), blockSum32(x, xo + 2), sumf);
  }
  return sumf;
}

/**
 * The repacked (CPU_REPACK, `block_q4_0x8` / `block_iq4_nlx8`) `ggml_gemv_*_8x8_q8_0` and
 * `ggml_gemm_*`: one f32 accumulator per output, acc = fma(int block dot, d_w·d_x, acc).
 */
function dotRepack32(type: GgmlType, w: Uint8Array, wo: number, x: Uint8Array, xo: number, n: number): number {
  let acc = 0;
  for (let b = 0; b < n / 32; b++, wo += 18, xo += 34) {
    unpack32(type, w, wo);
    acc = fma(fr(blockSum32(x, xo + 2)), fr(h16(w, wo) * h16(x, xo)), acc);
  }
  return acc;
}

// ---------------------------------------------------------------- 256-value super-blocks (× Q8_K)
// Q8_K block: d f32 at 0, qs[256] int8 at 4, bsums[16] int16 at 260; 292 bytes.

const KSIZE: Partial<Record<GgmlType, number>> = {
  [GgmlType.Q2_K]: 84, [GgmlType.Q3_K]: 110, [GgmlType.Q4_K]: 144, [GgmlType.Q5_K]: 176, [GgmlType.Q6_K]: 210, [GgmlType.IQ4_XS]: 136,
};

const bsum = (x: Uint8Array, xo: number, j: number): number => ((x[xo + 260 + 2 * j] | (x[xo + 261 + 2 * j] << 8)) << 16) >> 16;

/** Q4_K/Q5_K 6-bit scale and min j (0..7) from the 12 packed bytes at s (`get_scale_min_k4`). */
function scaleMinK4(w: Uint8Array, s: number, j: number): void {
  sc[2 * j] = sc[2 * j + 1] = j < 4 ? w[s + j] & 63 : (w[s + j + 4] & 0xf) | ((w[s + j - 4] >> 6) << 4);
  mn[j] = j < 4 ? w[s + j + 4] & 63 : (w[s + j + 4] >> 4) | ((w[s + j] >> 6) << 4);
}

/**
 * One super-block's integer weights into wv (natural order) and scales into sc. Q6_K values stay
 * unsigned (0..63) because the x86 kernel subtracts the 32 offset through the block sums.
 */
function unpackK(type: GgmlType, w: Uint8Array, wo: number): void {
  switch (type) {
    case GgmlType.Q2_K:
      for (let e = 0; e < 256; e++) wv[e] = (w[wo + 16 + 32 * (e >> 7) + (e & 31)] >> (2 * ((e >> 5) & 3))) & 3;
      for (let g = 0; g < 16; g++) {
        sc[g] = w[wo + g] & 0xf;
        mn[g] = w[wo + g] >> 4;
      }
      return;
    case GgmlType.Q3_K:
      for (let e = 0; e < 256; e++) {
        const g = e >> 5, l = e & 31;
        const v = (w[wo + 32 + 32 * (e >> 7) + l] >> (2 * (g & 3))) & 3;
        wv[e] = v - ((w[wo + l] >> g) & 1 ? 0 : 4);
      }
      for (let j = 0; j < 16; j++) {
        const s = wo + 96;
        const low = j < 8 ? w[s + j] & 0xf : w[s + j - 8] >> 4;
        sc[j] = (low | (((w[s + 8 + (j & 3)] >> (2 * (j >> 2))) & 3) << 4)) - 32;
      }
      return;
    case GgmlType.Q4_K: case GgmlType.Q5_K: {
      const five = type === GgmlType.Q5_K;
      const qs = wo + (five ? 48 : 16);
      for (let e = 0; e < 256; e++) {
        const byte = w[qs + 32 * (e >> 6) + (e & 31)];
        let v = (e >> 5) & 1 ? byte >> 4 : byte & 0xf;
        if (five && (w[wo + 16 + (e & 31)] >> (e >> 5)) & 1) v += 16;
        wv[e] = v;
      }
      for (let j = 0; j < 8; j++) scaleMinK4(w, wo + 4, j);
      return;
    }
    case GgmlType.Q6_K:
      for (let h = 0; h < 2; h++) {
        const ql = wo + 64 * h, qh = wo + 128 + 32 * h, a = 128 * h;
        for (let l = 0; l < 32; l++) {
          const hb = w[qh + l];
          wv[a + l] = (w[ql + l] & 0xf) | ((hb & 3) << 4);
          wv[a + l + 32] = (w[ql + l + 32] & 0xf) | (((hb >> 2) & 3) << 4);
          wv[a + l + 64] = (w[ql + l] >> 4) | (((hb >> 4) & 3) << 4);
          wv[a + l + 96] = (w[ql + l + 32] >> 4) | (((hb >> 6) & 3) << 4);
        }
      }
      for (let j = 0; j < 16; j++) sc[j] = i8(w, wo + 192 + j);
      return;
    case GgmlType.IQ4_XS: {
      const sh = w[wo + 2] | (w[wo + 3] << 8);
      for (let ib = 0; ib < 8; ib++) {
        const ls = ((w[wo + 4 + (ib >> 1)] >> (4 * (ib & 1))) & 0xf) | (((sh >> (2 * ib)) & 3) << 4);
        sc[2 * ib] = sc[2 * ib + 1] = ls - 32;
        for (let j = 0; j < 16; j++) {
          const q = w[wo + 8 + 16 * ib + j];
          wv[32 * ib + j] = IQ4NL_VALUES[q & 0xf];
          wv[32 * ib + 16 + j] = IQ4NL_VALUES[q >> 4];
        }
      }
      return;
    }
    default: throw new Error(`unpackK: ${ggmlTypeName(type)}`);
  }
}

/** The AVX2 K-quant lanes: element e goes to int32 lane (e mod 32) / 4, weighted by its sub-block scale. */
function lanesK(x: Uint8Array, xo: number): void {
  lane.fill(0);
  for (let e = 0; e < 256; e++) lane[(e & 31) >> 2] += sc[e >> 4] * wv[e] * i8(x, xo + 4 + e);
}

/** x86 `ggml_vec_dot_{q2,q3,q4,q5,q6}_K_q8_K` and `ggml_vec_dot_iq4_xs_q8_K` (AVX2 code). */
function dotK(type: GgmlType, w: Uint8Array, wo: number, x: Uint8Array, xo: number, n: number): number {
  const size = KSIZE[type]!;
  acc8.fill(0);
  const accM = acc8b; // Q4_K's four min lanes
  accM.fill(0);
  let summs = 0;
  for (let b = 0; b < n / 256; b++, wo += size, xo += 292) {
    unpackK(type, w, wo);
    lanesK(x, xo);
    const yd = readF32(x, xo);
    switch (type) {
      case GgmlType.Q2_K: {
        const dmin = fr(-yd * h16(w, wo + 82));
        for (let k = 0; k < 8; k++) acc8[k] = fma(dmin, mn[2 * k] * bsum(x, xo, 2 * k) + mn[2 * k + 1] * bsum(x, xo, 2 * k + 1), acc8[k]);
        const d = fr(yd * h16(w, wo + 80));
        for (let k = 0; k < 8; k++) acc8[k] = fma(d, fr(lane[k]), acc8[k]);
        break;
      }
      case GgmlType.Q4_K: case GgmlType.Q5_K: {
        const dmin = fr(-yd * h16(w, wo + 2));
        const s = (j: number) => bsum(x, xo, 2 * j) + bsum(x, xo, 2 * j + 1);
        if (type === GgmlType.Q4_K) {
          for (let p = 0; p < 4; p++) accM[p] = fma(dmin, mn[2 * p] * s(2 * p) + mn[2 * p + 1] * s(2 * p + 1), accM[p]);
        } else {
          let m = 0;
          for (let j = 0; j < 8; j++) m += mn[j] * s(j);
          summs = fma(dmin, m, summs);
        }
        const d = fr(yd * h16(w, wo));
        for (let k = 0; k < 8; k++) acc8[k] = fma(d, fr(lane[k]), acc8[k]);
        break;
      }
      case GgmlType.Q6_K: {
        // Values were unsigned; the 32 offset comes off per lane as 32·(bsum·scale) pairs.
        for (let k = 0; k < 8; k++) lane[k] -= 32 * (bsum(x, xo, 2 * k) * sc[2 * k] + bsum(x, xo, 2 * k + 1) * sc[2 * k + 1]);
        const d = fr(yd * h16(w, wo + 208));
        for (let k = 0; k < 8; k++) acc8[k] = fma(d, fr(lane[k]), acc8[k]);
        break;
      }
      case GgmlType.Q3_K: {
        const d = fr(yd * h16(w, wo + 108));
        for (let k = 0; k < 8; k++) acc8[k] = fma(d, fr(lane[k]), acc8[k]);
        break;
      }
      default: { // IQ4_XS
        const d = fr(h16(w, wo) * yd);
        for (let k = 0; k < 8; k++) acc8[k] = fma(d, fr(lane[k]), acc8[k]);
      }
    }
  }
  if (type === GgmlType.Q4_K) return fr(hsum8(acc8) + fr(fr(accM[0] + accM[2]) + fr(accM[1] + accM[3])));
  if (type === GgmlType.Q5_K) return fr(hsum8(acc8) + summs);
  return hsum8(acc8);
}

/**
 * Repacked `ggml_gemv_q4_K_8x8_q8_K` / `ggml_gemv_q2_K_8x8_q8_K`: per output two f32
 * accumulators, acc = fma(Σ scale·q·q8, d_w·d_x, acc) and accMin = fma(Σ min·bsum, dmin_w·d_x,
 * accMin), the result acc − accMin. gemv adds once per super-block; the AVX-512 `ggml_gemm_*`
 * (groups of 4 tokens) adds once per 64 values (Q4_K) or 128 values (Q2_K) instead.
 */
function dotRepackK(type: GgmlType, w: Uint8Array, wo: number, x: Uint8Array, xo: number, n: number, gemm: boolean): number {
  const size = KSIZE[type]!;
  const two = type === GgmlType.Q2_K;
  const step = gemm ? (two ? 128 : 64) : 256;
  let acc = 0, accMin = 0;
  for (let b = 0; b < n / 256; b++, wo += size, xo += 292) {
    unpackK(type, w, wo);
    const yd = readF32(x, xo);
    const d = fr(h16(w, wo + (two ? 80 : 0)) * yd);
    const dmin = fr(h16(w, wo + (two ? 82 : 2)) * yd);
    for (let e0 = 0; e0 < 256; e0 += step) {
      let isum = 0;
      for (let e = e0; e < e0 + step; e++) isum += sc[e >> 4] * wv[e] * i8(x, xo + 4 + e);
      let imin = 0;
      if (two) for (let g = e0 >> 4; g < (e0 + step) >> 4; g++) imin += mn[g] * bsum(x, xo, g);
      else for (let j = e0 >> 5; j < (e0 + step) >> 5; j++) imin += mn[j] * (bsum(x, xo, 2 * j) + bsum(x, xo, 2 * j + 1));
      acc = fma(fr(isum), d, acc);
      accMin = fma(fr(imin), dmin, accMin);
    }
  }
  return fr(acc - accMin);
}

/** `iqp_gemm_8x8_q8_K` (the IQ panel gemm): one f32 accumulator, one fma per super-block. */
function dotIqp(type: GgmlType, w: Uint8Array, wo: number, x: Uint8Array, xo: number, n: number): number {
  const size = KSIZE[type]!;
  let acc = 0;
  for (let b = 0; b < n / 256; b++, wo += size, xo += 292) {
    unpackK(type, w, wo);
    let isum = 0;
    for (let e = 0; e < 256; e++) isum += sc[e >> 4] * wv[e] * i8(x, xo + 4 + e);
    acc = fma(fr(isum), fr(h16(w, wo) * readF32(x, xo)), acc);
  }
  return acc;
}
