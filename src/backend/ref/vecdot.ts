// llama.cpp's CPU dot products, scalar reference. For a quantized weight row llama.cpp first
// quantizes the activation row to the weight type's `vec_dot_type` (Q8_0, Q8_1 or Q8_K) and then
// runs `ggml_vec_dot_<type>_<vec_dot_type>`: exact integer sums per block, scaled in f32 in a
// fixed order. We do the same so logits match llama.cpp. Quantized dots follow the generic C in
// ggml-cpu/quants.c operation by operation (Math.fround after each f32 operation, unfused).
// F32/F16/BF16 follow the x86 AVX-512 code paths instead, see `dotF16`.
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
 * reference on every platform; F16/BF16 are the plain conversions.
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

const h16 = (b: Uint8Array, o: number): number => F16_TO_F32[b[o] | (b[o + 1] << 8)];
const i8 = (b: Uint8Array, o: number): number => (b[o] << 24) >> 24;

/**
 * Σ w·x over `n` values: `w` a row of `weightType` at `wOffset`, `xq` the activation row quantized
 * by `quantizeActivation(vecDotType(weightType), …)` at `xqOffset`. Returns the f32 result.
 */
export function vecDot(weightType: GgmlType, w: Uint8Array, wOffset: number, xq: Uint8Array, xqOffset: number, n: number): number {
  const wSize = quantizedSize(weightType, n);
  const xSize = activationBytes(weightType, n);
  if (wOffset < 0 || wOffset + wSize > w.length || xqOffset < 0 || xqOffset + xSize > xq.length) {
    throw new RangeError(`vecDot ${ggmlTypeName(weightType)}: ${n} values exceed the buffers`);
  }
  switch (weightType) {
    case GgmlType.F32: return dotF32(w, wOffset, xq, xqOffset, n);
    case GgmlType.F16: return dotF16(w, wOffset, xq, xqOffset, n);
    case GgmlType.BF16: return dotBF16(w, wOffset, xq, xqOffset, n);
    case GgmlType.Q4_0: return dotQ4_0(w, wOffset, xq, xqOffset, n);
    case GgmlType.Q4_1: return dotQ4_1(w, wOffset, xq, xqOffset, n);
    case GgmlType.Q5_0: return dotQ5_0(w, wOffset, xq, xqOffset, n);
    case GgmlType.Q5_1: return dotQ5_1(w, wOffset, xq, xqOffset, n);
    case GgmlType.Q8_0: return dotQ8_0(w, wOffset, xq, xqOffset, n);
    case GgmlType.IQ4_NL: return dotIQ4_NL(w, wOffset, xq, xqOffset, n);
    case GgmlType.Q2_K: return dotQ2_K(w, wOffset, xq, xqOffset, n);
    case GgmlType.Q3_K: case GgmlType.Q4_K: case GgmlType.Q5_K: case GgmlType.Q6_K:
      return dotKLanes(weightType, w, wOffset, xq, xqOffset, n);
    case GgmlType.IQ4_XS: return dotIQ4_XS(w, wOffset, xq, xqOffset, n);
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
// Prompt batches (n_tokens ≥ 2) go through llamafile's tinyBLAS in llama.cpp, whose order
// differs again; this reference follows the single-token (decode) path.

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
  const np = n & ~63;
  let sum = simd64(fa, fb, np);
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
  const np = n & ~63;
  let sum = simd64(fa, fb, np); // then widened to ggml_float (double)
  for (let i = np; i < n; i++) sum += fa[i] * fb[i];
  return fr(sum);
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

// ---------------------------------------------------------------- 32-value blocks

function dotQ4_0(w: Uint8Array, wo: number, x: Uint8Array, xo: number, n: number): number {
  let sumf = 0;
  for (let b = 0; b < n / 32; b++, wo += 18, xo += 34) {
    let s0 = 0, s1 = 0;
    for (let j = 0; j < 16; j++) {
      const q = w[wo + 2 + j];
      s0 += ((q & 0xf) - 8) * i8(x, xo + 2 + j);
      s1 += ((q >> 4) - 8) * i8(x, xo + 18 + j);
    }
    sumf = fr(sumf + fr(fr((s0 + s1) * h16(w, wo)) * h16(x, xo)));
  }
  return sumf;
}

function dotQ4_1(w: Uint8Array, wo: number, x: Uint8Array, xo: number, n: number): number {
  let sumf = 0;
  for (let b = 0; b < n / 32; b++, wo += 20, xo += 36) {
    let s0 = 0, s1 = 0;
    for (let j = 0; j < 16; j++) {
      const q = w[wo + 4 + j];
      s0 += (q & 0xf) * i8(x, xo + 4 + j);
      s1 += (q >> 4) * i8(x, xo + 20 + j);
    }
    sumf = fr(sumf + fr(fr(fr(h16(w, wo) * h16(x, xo)) * (s0 + s1)) + fr(h16(w, wo + 2) * h16(x, xo + 2))));
  }
  return sumf;
}

function qh32(b: Uint8Array, o: number): number {
  return (b[o] | (b[o + 1] << 8) | (b[o + 2] << 16) | (b[o + 3] << 24)) >>> 0;
}

function dotQ5_0(w: Uint8Array, wo: number, x: Uint8Array, xo: number, n: number): number {
  let sumf = 0;
  for (let b = 0; b < n / 32; b++, wo += 22, xo += 34) {
    const qh = qh32(w, wo + 2);
    let s0 = 0, s1 = 0;
    for (let j = 0; j < 16; j++) {
      const q = w[wo + 6 + j];
      s0 += (((q & 0xf) | (((qh >>> j) & 1) << 4)) - 16) * i8(x, xo + 2 + j);
      s1 += (((q >> 4) | (((qh >>> (j + 16)) & 1) << 4)) - 16) * i8(x, xo + 18 + j);
    }
    sumf = fr(sumf + fr(fr(h16(w, wo) * h16(x, xo)) * (s0 + s1)));
  }
  return sumf;
}

function dotQ5_1(w: Uint8Array, wo: number, x: Uint8Array, xo: number, n: number): number {
  let sumf = 0;
  for (let b = 0; b < n / 32; b++, wo += 24, xo += 36) {
    const qh = qh32(w, wo + 4);
    let s0 = 0, s1 = 0;
    for (let j = 0; j < 16; j++) {
      const q = w[wo + 8 + j];
      s0 += ((q & 0xf) | (((qh >>> j) & 1) << 4)) * i8(x, xo + 4 + j);
      s1 += ((q >> 4) | (((qh >>> (j + 16)) & 1) << 4)) * i8(x, xo + 20 + j);
    }
    sumf = fr(sumf + fr(fr(fr(h16(w, wo) * h16(x, xo)) * (s0 + s1)) + fr(h16(w, wo + 2) * h16(x, xo + 2))));
  }
  return sumf;
}

function dotQ8_0(w: Uint8Array, wo: number, x: Uint8Array, xo: number, n: number): number {
  let sumf = 0;
  for (let b = 0; b < n / 32; b++, wo += 34, xo += 34) {
    let s = 0;
    for (let j = 0; j < 32; j++) s += i8(w, wo + 2 + j) * i8(x, xo + 2 + j);
    sumf = fr(sumf + fr(s * fr(h16(w, wo) * h16(x, xo))));
  }
  return sumf;
}

function dotIQ4_NL(w: Uint8Array, wo: number, x: Uint8Array, xo: number, n: number): number {
  let sumf = 0;
  for (let b = 0; b < n / 32; b++, wo += 18, xo += 34) {
    const d = fr(h16(x, xo) * h16(w, wo));
    let s1 = 0, s2 = 0;
    for (let j = 0; j < 16; j++) {
      const q = w[wo + 2 + j];
      s1 += i8(x, xo + 2 + j) * IQ4NL_VALUES[q & 0xf];
      s2 += i8(x, xo + 18 + j) * IQ4NL_VALUES[q >> 4];
    }
    sumf = fr(sumf + fr(d * (s1 + s2)));
  }
  return sumf;
}

// ---------------------------------------------------------------- 256-value super-blocks (× Q8_K)
// Q8_K block: d f32 at 0, qs[256] int8 at 4, bsums[16] int16 at 260; 292 bytes.

const bsum = (x: Uint8Array, xo: number, j: number): number => ((x[xo + 260 + 2 * j] | (x[xo + 261 + 2 * j] << 8)) << 16) >> 16;

function dotQ2_K(w: Uint8Array, wo: number, x: Uint8Array, xo: number, n: number): number {
  let sumf = 0;
  for (let b = 0; b < n / 256; b++, wo += 84, xo += 292) {
    let summs = 0;
    for (let j = 0; j < 16; j++) summs += bsum(x, xo, j) * (w[wo + j] >> 4);
    const yd = readF32(x, xo);
    const dall = fr(yd * h16(w, wo + 80));
    const dmin = fr(yd * h16(w, wo + 82));
    let isum = 0;
    let is = 0;
    let q8 = xo + 4;
    for (let k = 0; k < 2; k++) {
      const q2 = wo + 16 + 32 * k;
      for (let shift = 0; shift < 8; shift += 2, q8 += 32) {
        let d = w[wo + is++] & 0xf;
        let s = 0;
        for (let l = 0; l < 16; l++) s += i8(x, q8 + l) * ((w[q2 + l] >> shift) & 3);
        isum += d * s;
        d = w[wo + is++] & 0xf;
        s = 0;
        for (let l = 16; l < 32; l++) s += i8(x, q8 + l) * ((w[q2 + l] >> shift) & 3);
        isum += d * s;
      }
    }
    sumf = fr(sumf + fr(fr(dall * isum) - fr(dmin * summs)));
  }
  return sumf;
}

const aux8 = new Int8Array(256);
const aux32 = new Int32Array(8);
const sums8 = new Float32Array(8);
const sc16 = new Int32Array(16);

/**
 * Q3_K/Q4_K/Q5_K/Q6_K × Q8_K: the generic C unpacks the weights to int8 `aux8`, multiplies by
 * sub-block scales into eight int32 lanes (element i → lane i mod 8), scales each lane by d into
 * eight f32 partial sums kept across super-blocks, and adds those eight at the very end.
 */
function dotKLanes(type: GgmlType, w: Uint8Array, wo: number, x: Uint8Array, xo: number, n: number): number {
  const bs = type === GgmlType.Q3_K ? 110 : type === GgmlType.Q4_K ? 144 : type === GgmlType.Q5_K ? 176 : 210;
  const perScale = type === GgmlType.Q3_K || type === GgmlType.Q6_K ? 16 : 32;
  sums8.fill(0);
  let sumf = 0;
  for (let b = 0; b < n / 256; b++, wo += bs, xo += 292) {
    let d: number;
    if (type === GgmlType.Q3_K) {
      for (let i = 0; i < 256; i++) {
        const g = i >> 5, l = i & 31;
        const v = (w[wo + 32 + 32 * (i >> 7) + l] >> (2 * (g & 3))) & 3;
        aux8[i] = v - ((w[wo + l] >> g) & 1 ? 0 : 4);
      }
      for (let j = 0; j < 16; j++) {
        const s = wo + 96;
        const low = j < 8 ? w[s + j] & 0xf : w[s + j - 8] >> 4;
        sc16[j] = (low | (((w[s + 8 + (j & 3)] >> (2 * (j >> 2))) & 3) << 4)) - 32;
      }
      d = fr(h16(w, wo + 108) * readF32(x, xo));
    } else if (type === GgmlType.Q6_K) {
      for (let h = 0; h < 2; h++) {
        const ql = wo + 64 * h, qh = wo + 128 + 32 * h, a = 128 * h;
        for (let l = 0; l < 32; l++) {
          const hb = w[qh + l];
          aux8[a + l] = ((w[ql + l] & 0xf) | ((hb & 3) << 4)) - 32;
          aux8[a + l + 32] = ((w[ql + l + 32] & 0xf) | (((hb >> 2) & 3) << 4)) - 32;
          aux8[a + l + 64] = ((w[ql + l] >> 4) | (((hb >> 4) & 3) << 4)) - 32;
          aux8[a + l + 96] = ((w[ql + l + 32] >> 4) | (((hb >> 6) & 3) << 4)) - 32;
        }
      }
      for (let j = 0; j < 16; j++) sc16[j] = i8(w, wo + 192 + j);
      d = fr(h16(w, wo + 208) * readF32(x, xo));
    } else {
      const five = type === GgmlType.Q5_K;
      const qs = wo + (five ? 48 : 16);
      for (let i = 0; i < 256; i++) {
        const byte = w[qs + 32 * (i >> 6) + (i & 31)];
        let v = (i >> 5) & 1 ? byte >> 4 : byte & 0xf;
        if (five && (w[wo + 16 + (i & 31)] >> (i >> 5)) & 1) v += 16;
        aux8[i] = v;
      }
      let summ = 0;
      for (let j = 0; j < 8; j++) {
        const s = wo + 4;
        sc16[j] = j < 4 ? w[s + j] & 63 : (w[s + j + 4] & 0xf) | ((w[s + j - 4] >> 6) << 4);
        const m = j < 4 ? w[s + j + 4] & 63 : (w[s + j + 4] >> 4) | ((w[s + j] >> 6) << 4);
        summ += (bsum(x, xo, 2 * j) + bsum(x, xo, 2 * j + 1)) * m;
      }
      const yd = readF32(x, xo);
      d = fr(h16(w, wo) * yd);
      const dmin = fr(h16(w, wo + 2) * yd);
      sumf = fr(sumf - fr(dmin * summ));
    }
    aux32.fill(0);
    const shift = perScale === 16 ? 4 : 5;
    for (let i = 0; i < 256; i++) aux32[i & 7] += sc16[i >> shift] * (i8(x, xo + 4 + i) * aux8[i]);
    for (let l = 0; l < 8; l++) sums8[l] = fr(sums8[l] + fr(d * aux32[l]));
  }
  for (let l = 0; l < 8; l++) sumf = fr(sumf + sums8[l]);
  return sumf;
}

function dotIQ4_XS(w: Uint8Array, wo: number, x: Uint8Array, xo: number, n: number): number {
  let sumf = 0;
  for (let b = 0; b < n / 256; b++, wo += 136, xo += 292) {
    const d4d8 = fr(h16(w, wo) * readF32(x, xo));
    let h = w[wo + 2] | (w[wo + 3] << 8);
    let qs = wo + 8;
    let q8 = xo + 4;
    for (let ib = 0; ib < 8; ib += 2) {
      const sl = w[wo + 4 + (ib >> 1)];
      const ls1 = (sl & 0xf) | ((h << 4) & 0x30);
      const ls2 = (sl >> 4) | ((h << 2) & 0x30);
      h >>= 4;
      for (let half = 0; half < 2; half++) {
        const ls = half === 0 ? ls1 : ls2;
        const dl = fr(d4d8 * (ls - 32));
        let s1 = 0, s2 = 0;
        for (let j = 0; j < 16; j++) {
          s1 += i8(x, q8 + j) * IQ4NL_VALUES[w[qs + j] & 0xf];
          s2 += i8(x, q8 + 16 + j) * IQ4NL_VALUES[w[qs + j] >> 4];
        }
        sumf = fr(sumf + fr(dl * (s1 + s2)));
        qs += 16;
        q8 += 32;
      }
    }
  }
  return sumf;
}
