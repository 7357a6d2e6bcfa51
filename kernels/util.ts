// Scalar helpers shared by the kernels: IEEE half conversions (round-to-nearest-even, as F16C and
// ggml do) and horizontal reductions.

export function f16ToF32(h: u32): f32 {
  const s = (h & 0x8000) << 16;
  const e = (h >> 10) & 0x1f;
  const m = h & 0x3ff;
  if (e == 0x1f) return reinterpret<f32>(s | 0x7f800000 | (m << 13));
  // Shifting the magnitude into f32 position and scaling by 2^112 handles subnormals exactly.
  const mag = reinterpret<f32>(((h & 0x7fff) as u32) << 13) * reinterpret<f32>(0x77800000);
  return reinterpret<f32>(reinterpret<u32>(mag) | s);
}

export function f32ToF16(f: f32): u32 {
  const x = reinterpret<u32>(f);
  const sign = (x >> 16) & 0x8000;
  const ax = x & 0x7fffffff;
  if (ax >= 0x7f800000) return sign | 0x7c00 | (ax > 0x7f800000 ? 0x200 : 0);
  if (ax >= 0x477ff000) return sign | 0x7c00; // rounds to >= 65520: overflow to infinity
  if (ax < 0x38800000) {
    // Subnormal half: let the FPU round by adding 0.5 (the smallest normal half's exponent).
    const r = reinterpret<f32>(ax) + reinterpret<f32>(0x3f000000);
    return sign | (reinterpret<u32>(r) - 0x3f000000);
  }
  const mant_odd = (ax >> 13) & 1;
  const r = ax + 0xc8000fff + mant_odd; // rebias exponent (-112 << 23) and round half to even
  return sign | (r >> 13);
}

export function f32RoundF16(f: f32): f32 {
  return f16ToF32(f32ToF16(f));
}

/**
 * f32RoundF16 of four lanes that are ≥ 0 or NaN (probabilities): round to nearest even at mantissa
 * bit 13 from 2^-14 up, and to a multiple of 2^-24 (half's subnormal step) below it, where adding
 * and subtracting 0.5 lets the FPU round. The k* arguments are the splats 0xfff, 1, 0xffffe000,
 * 0.5f and 2^-14, made outside the caller's loop (keepV) so V8 keeps them in registers.
 */
// @ts-ignore: decorator
@inline
export function roundF16Pos4(p: v128, k0fff: v128, k1: v128, kMask: v128, kHalf: v128, kMin: v128): v128 {
  const nrm = v128.and(i32x4.add(i32x4.add(p, k0fff), v128.and(i32x4.shr_u(p, 13), k1)), kMask);
  const sub = f32x4.sub(f32x4.add(p, kHalf), kHalf);
  return v128.bitselect(sub, nrm, f32x4.lt(p, kMin));
}

export function bf16Round(f: f32): f32 {
  // ggml's GGML_FP32_TO_BF16: NaN stays NaN (quiet), otherwise round half to even.
  const u = reinterpret<u32>(f);
  if ((u & 0x7fffffff) > 0x7f800000) return reinterpret<f32>(((u >> 16) | 64) << 16);
  return reinterpret<f32>(((u + (0x7fff + ((u >> 16) & 1))) >> 16) << 16);
}

// @ts-ignore: decorator
@inline
export function hsumI32(v: v128): i32 {
  const t = i32x4.add(v, i32x8hi(v));
  return i32x4.extract_lane(t, 0) + i32x4.extract_lane(t, 1);
}

// @ts-ignore: decorator
@inline
function i32x8hi(v: v128): v128 {
  return v128.shuffle<i32>(v, v, 2, 3, 0, 1);
}

// @ts-ignore: decorator
@inline
export function hsumF32(v: v128): f32 {
  const t = f32x4.add(v, v128.shuffle<f32>(v, v, 2, 3, 0, 1));
  return f32x4.extract_lane(t, 0) + f32x4.extract_lane(t, 1);
}

/** Lane r of the result is the sum of the lanes of input r (4 rows reduced at once). */
// @ts-ignore: decorator
@inline
export function reduce4(a: v128, b: v128, c: v128, d: v128): v128 {
  const t0 = i32x4.add(v128.shuffle<i32>(a, b, 0, 4, 1, 5), v128.shuffle<i32>(a, b, 2, 6, 3, 7));
  const t1 = i32x4.add(v128.shuffle<i32>(c, d, 0, 4, 1, 5), v128.shuffle<i32>(c, d, 2, 6, 3, 7));
  return i32x4.add(v128.shuffle<i32>(t0, t1, 0, 1, 4, 5), v128.shuffle<i32>(t0, t1, 2, 3, 6, 7));
}

// @ts-ignore: decorator
@inline
export function reduce4f(a: v128, b: v128, c: v128, d: v128): v128 {
  const t0 = f32x4.add(v128.shuffle<f32>(a, b, 0, 4, 1, 5), v128.shuffle<f32>(a, b, 2, 6, 3, 7));
  const t1 = f32x4.add(v128.shuffle<f32>(c, d, 0, 4, 1, 5), v128.shuffle<f32>(c, d, 2, 6, 3, 7));
  return f32x4.add(v128.shuffle<f32>(t0, t1, 0, 1, 4, 5), v128.shuffle<f32>(t0, t1, 2, 3, 6, 7));
}

/** Store the first `valid` lanes of v (valid in 1..4) at p. */
// @ts-ignore: decorator
@inline
export function storeLanes(p: usize, v: v128, valid: i32): void {
  if (valid >= 4) { v128.store(p, v); return; }
  store<f32>(p, f32x4.extract_lane(v, 0));
  if (valid > 1) store<f32>(p, f32x4.extract_lane(v, 1), 4);
  if (valid > 2) store<f32>(p, f32x4.extract_lane(v, 2), 8);
}

/** Relaxed or plain i8×u7 dot into i16 pairs: lane k = a[2k]*b[2k] + a[2k+1]*b[2k+1]; b must be 0..127. */
// @ts-ignore: decorator
@inline
export function dotI8U7(a: v128, b: v128): v128 {
  if (ASC_FEATURE_RELAXED_SIMD) {
    return i16x8.relaxed_dot_i8x16_i7x16_s(a, b);
  } else {
    const lo = i16x8.mul(i16x8.extend_low_i8x16_s(a), i16x8.extend_low_i8x16_u(b));
    const hi = i16x8.mul(i16x8.extend_high_i8x16_s(a), i16x8.extend_high_i8x16_u(b));
    // Pairwise add of adjacent i16 lanes of the 16 products.
    return i16x8.add(
      v128.shuffle<i16>(lo, hi, 0, 2, 4, 6, 8, 10, 12, 14),
      v128.shuffle<i16>(lo, hi, 1, 3, 5, 7, 9, 11, 13, 15));
  }
}

/**
 * Σ over groups of 4 lanes of a0[i]*b0[i] + a1[i]*b1[i] (i32x4); b must be 0..127 and each
 * group sum must fit i16 (|a| ≤ 127, b ≤ 31). Two i16 dots and one widening: V8 lowers the i16
 * relaxed dot to one pmaddubsw, while i32x4.relaxed_dot_i8x16_i7x16_add_s measured 3× slower here.
 */
// @ts-ignore: decorator
@inline
export function dot2I8U7(a0: v128, b0: v128, a1: v128, b1: v128): v128 {
  return i32x4.extadd_pairwise_i16x8_s(i16x8.add(dotI8U7(a0, b0), dotI8U7(a1, b1)));
}

/** dot2I8U7 with the pair-widening as a dot against `ones` (keepI16(1, z)), a register operand. */
// @ts-ignore: decorator
@inline
export function dot2I8U7k(a0: v128, b0: v128, a1: v128, b1: v128, ones: v128): v128 {
  return i32x4.dot_i16x8_s(i16x8.add(dotI8U7(a0, b0), dotI8U7(a1, b1)), ones);
}

/**
 * Splat constants a kernel keeps in a local. V8 rematerializes a v128.const at every use inside a
 * loop (a splat costs three instructions: load, move, unpack), and Binaryen folds a constant local
 * back into its uses; or-ing in a runtime zero (`zero`: `rows >> 31`; not `rows >>> 31`, which
 * Binaryen knows is 0 or 1 and folds `1 | z` to 1) leaves a value V8 computes once and keeps in
 * a register.
 */
// @ts-ignore: decorator
@inline
export function keepI8(x: i32, zero: i32): v128 { return i8x16.splat(<i8>(x | zero)); }
// @ts-ignore: decorator
@inline
export function keepI16(x: i32, zero: i32): v128 { return i16x8.splat(<i16>(x | zero)); }

/** Any v128 constant kept in a register the same way (`zero` a runtime zero, see keepI8). */
// @ts-ignore: decorator
@inline
export function keepV(v: v128, zero: i32): v128 { return v128.or(v, i32x4.splat(zero)); }

/**
 * Four f16 at p as f32. The sign-extended half shifted left by 13 has the sign in bit 31, copies
 * of it in bits 28..30 (masked off by `keep` = 0x8fffffff) and exponent and mantissa in f32
 * position; scaling by `scale` = 2^112 rebiases the exponent, exactly for subnormals too.
 * Four instructions (pmovsxwd from memory, shift, and, multiply). Pass the constants from
 * outside a loop so V8 keeps them in registers.
 */
// @ts-ignore: decorator
@inline
export function f16x4(p: usize, keep: v128, scale: v128): v128 {
  return f32x4.mul(v128.and(i32x4.shl(v128.load16x4_s(p), 13), keep), scale);
}

/** The f16 at p as f32: f16x4's trick on one value (finite values, as weight scales are). */
// @ts-ignore: decorator
@inline
export function f16s(p: usize): f32 {
  return reinterpret<f32>((<u32>(<i32>load<i16>(p) << 13)) & 0x8fffffff) * reinterpret<f32>(0x77800000);
}

/** The constants of f16x4, kept in registers (`zero` a runtime zero, see keepI8 in util.ts). */
// @ts-ignore: decorator
@inline
export function f16Keep(zero: i32): v128 { return keepV(i32x4.splat(0x8fffffff), zero); }
// @ts-ignore: decorator
@inline
export function f16Scale(zero: i32): v128 { return keepV(f32x4.splat(reinterpret<f32>(0x77800000)), zero); }

/** i16x8.extadd_pairwise_i8x16_s with `ones8` = keepI8(1, z): V8 lowers both to one pmaddubsw, this one without a constant load. */
// @ts-ignore: decorator
@inline
export function pairs8(x: v128, ones8: v128): v128 {
  if (ASC_FEATURE_RELAXED_SIMD) return i16x8.relaxed_dot_i8x16_i7x16_s(x, ones8);
  return i16x8.extadd_pairwise_i8x16_s(x);
}

/**
 * Where element m (0..15) of a 16-value half-block sits in the i16 activations and the signed
 * weight bytes of Q8_0, IQ4_NL and IQ4_XS: [0,1,4,5,8,9,12,13 | 2,3,6,7,10,11,14,15], so that
 * dot_i16x8 of the low and of the high 8 give pairs whose lane-wise sum is llama.cpp's int lane
 * (4 consecutive elements) with one add.
 */
// @ts-ignore: decorator
@inline
export function slot16(m: i32): i32 {
  return ((m & 2) << 2) | ((m >> 1) & 6) | (m & 1);
}

/**
 * The Q4_0 decode kernel (matmul.ts q4Tokens) streams its weights faster than the memory system
 * feeds it from its own sequential loads (wasm has no prefetch instruction), so it also loads one
 * byte of each 64-byte line `PF` bytes ahead of its quant and scale streams: those misses overlap
 * the compute. Measured on cold Q4_0 matvecs: 1.1× on one thread, 1.6–1.8× on two (5632×2048:
 * 372 → 216 µs); 256–512 B all did about as well. The same touches gave nothing or lost a little
 * on Q8_0, Q4_1, Q5_0, IQ4_NL and the K-quants (heavier compute per byte; Q4_K already reaches
 * ~31 GB/s on two threads), and a burst over a whole row group ahead lost (the loads block
 * retirement).
 */
export const PF: usize = 384; // < WEIGHT_PAD

/**
 * One byte at p + PF and one at s + PF / 8 (the Q4_0 quant and scale streams): the TS side leaves
 * WEIGHT_PAD (512) readable bytes after every weight area (src/backend/wasm/abi.ts), so no bound
 * check is needed (a clamp per load measured ~10 instructions a block).
 */
// @ts-ignore: decorator
@inline
export function touchQ4(p: usize, s: usize): u32 {
  return <u32>load<u8>(p + PF) | <u32>load<u8>(s + (PF >> 3));
}

/** Keeps touch loads alive: a store that never happens (touch results are bytes). */
// @ts-ignore: decorator
@inline
export function sinkTouch(t: u32, p: usize): void {
  if (t == 0x5a5a5a5a) store<u8>(p, 0);
}
