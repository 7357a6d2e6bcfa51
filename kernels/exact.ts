// f32 arithmetic as the reference backend (src/backend/ref/vecdot.ts) does it: llama.cpp's fused
// multiply-adds. Plain SIMD128 has no FMA, so the plain build emulates each as one f64 multiply-add
// (the product of two f32, or of an f32 and an integer below 2^24, is exact in f64) and a rounding
// to f32, as the reference does. The relaxed build uses f32x4.relaxed_madd, which the backend
// only loads after checking that it fuses on this machine (`maddProbe`, src/backend/wasm/index.ts):
// a true FMA is llama.cpp's own operation, and the f64 emulation differs from it only when the
// f64 rounding lands exactly on an f32 half-way point — never in practice, the parity test checks
// both builds against the reference bit for bit.
//
// Scales for fmaSI/fmaSF come from splatLane, in the build's form (f32x4 or f64x2 splat).

// @ts-ignore: decorator
@inline
export function lo64i(v: v128): v128 { return f64x2.convert_low_i32x4_s(v); }
// @ts-ignore: decorator
@inline
export function hi64i(v: v128): v128 { return f64x2.convert_low_i32x4_s(v128.shuffle<i32>(v, v, 2, 3, 2, 3)); }
// @ts-ignore: decorator
@inline
export function lo64f(v: v128): v128 { return f64x2.promote_low_f32x4(v); }
// @ts-ignore: decorator
@inline
export function hi64f(v: v128): v128 { return f64x2.promote_low_f32x4(v128.shuffle<f32>(v, v, 2, 3, 2, 3)); }

/** Lanes of `acc` (f32x4) ← f32(d·v + acc): lanes 0,1 use d0·v0, lanes 2,3 use d1·v1 (all f64x2). */
// @ts-ignore: decorator
@inline
export function fmaW(acc: v128, d0: v128, v0: v128, d1: v128, v1: v128): v128 {
  const a0 = f64x2.add(f64x2.mul(d0, v0), lo64f(acc));
  const a1 = f64x2.add(f64x2.mul(d1, v1), hi64f(acc));
  return v128.shuffle<f32>(f32x4.demote_f64x2_zero(a0), f32x4.demote_f64x2_zero(a1), 0, 1, 4, 5);
}

/** acc ← fma(d, lanes, acc) for one scale `d` (splatLane) and int lanes exact in f32 (|v| < 2^24). */
// @ts-ignore: decorator
@inline
export function fmaSI(acc: v128, d: v128, lanes: v128): v128 {
  if (ASC_FEATURE_RELAXED_SIMD) return f32x4.relaxed_madd(f32x4.convert_i32x4_s(lanes), d, acc);
  return fmaW(acc, d, lo64i(lanes), d, hi64i(lanes));
}

/** acc ← fma(d, f32(lanes), acc): int lanes first rounded to f32 (K-quant lanes may exceed 2^24). */
// @ts-ignore: decorator
@inline
export function fmaSF(acc: v128, d: v128, lanes: v128): v128 {
  const f = f32x4.convert_i32x4_s(lanes);
  if (ASC_FEATURE_RELAXED_SIMD) return f32x4.relaxed_madd(f, d, acc);
  return fmaW(acc, d, lo64f(f), d, hi64f(f));
}

/** Per-lane scales: acc_r ← fma(f32(v_r), d_r, acc_r) (one output row per lane). */
// @ts-ignore: decorator
@inline
export function fmaVF(acc: v128, d: v128, v: v128): v128 {
  const f = f32x4.convert_i32x4_s(v);
  if (ASC_FEATURE_RELAXED_SIMD) return f32x4.relaxed_madd(f, d, acc);
  return fmaW(acc, lo64f(d), lo64f(f), hi64f(d), hi64f(f));
}

/** Per-lane f32 products: acc_r ← fma(a_r, b_r, acc_r) with a, b f32x4. */
// @ts-ignore: decorator
@inline
export function fmaVV(acc: v128, a: v128, b: v128): v128 {
  if (ASC_FEATURE_RELAXED_SIMD) return f32x4.relaxed_madd(a, b, acc);
  return fmaW(acc, lo64f(a), lo64f(b), hi64f(a), hi64f(b));
}

/**
 * acc + a·b where every product a·b is exact in f32 (f16 × f16, bf16 × bf16 values): the relaxed
 * build's fused multiply-add gives the same sum as a multiply and an add, in one instruction.
 */
// @ts-ignore: decorator
@inline
export function addExact(acc: v128, a: v128, b: v128): v128 {
  if (ASC_FEATURE_RELAXED_SIMD) return f32x4.relaxed_madd(a, b, acc);
  return f32x4.add(acc, f32x4.mul(a, b));
}

/** Lane r of an f32x4 as the scale operand of fmaSI/fmaSF: an f32x4 splat (relaxed) or f64x2 splat (plain). */
// @ts-ignore: decorator
@inline
export function splatLane(v: v128, r: i32): v128 {
  if (ASC_FEATURE_RELAXED_SIMD) {
    return r == 0 ? v128.shuffle<f32>(v, v, 0, 0, 0, 0) : r == 1 ? v128.shuffle<f32>(v, v, 1, 1, 1, 1)
      : r == 2 ? v128.shuffle<f32>(v, v, 2, 2, 2, 2) : v128.shuffle<f32>(v, v, 3, 3, 3, 3);
  }
  return f64x2.splat(<f64>(r == 0 ? f32x4.extract_lane(v, 0) : r == 1 ? f32x4.extract_lane(v, 1) : r == 2 ? f32x4.extract_lane(v, 2) : f32x4.extract_lane(v, 3)));
}

/** A scalar scale in the form of splatLane. */
// @ts-ignore: decorator
@inline
export function splatS(x: f32): v128 {
  if (ASC_FEATURE_RELAXED_SIMD) return f32x4.splat(x);
  return f64x2.splat(<f64>x);
}

/** hsum_float_8 of lanes 0..3 in a and 4..7 in b: ((v0+v4)+(v2+v6)) + ((v1+v5)+(v3+v7)). */
// @ts-ignore: decorator
@inline
export function hsum8(a: v128, b: v128): f32 {
  const t = f32x4.add(a, b);
  const u = f32x4.add(t, v128.shuffle<f32>(t, t, 2, 3, 0, 1));
  return f32x4.extract_lane(u, 0) + f32x4.extract_lane(u, 1);
}

/** Lane 0 of relaxed_madd(a, b, c) (relaxed build) or of the emulated FMA: tells whether madd fuses here. */
export function maddProbe(a: f32, b: f32, c: f32): f32 {
  return f32x4.extract_lane(fmaVV(f32x4.splat(c), f32x4.splat(a), f32x4.splat(b)), 0);
}

/** i32 lanes 0..3 = sums of 4 consecutive products from two i32x4 of pair sums (dot_i16x8_s results). */
// @ts-ignore: decorator
@inline
export function quads(p0: v128, p1: v128): v128 {
  return i32x4.add(v128.shuffle<i32>(p0, p1, 0, 2, 4, 6), v128.shuffle<i32>(p0, p1, 1, 3, 5, 7));
}

/** 4×4 transpose of i32 lanes: result k has lane r = lane k of input r. */
// @ts-ignore: decorator
@inline
export function tr4(a: v128, b: v128, c: v128, d: v128, k: i32): v128 {
  const ab = k < 2 ? v128.shuffle<i32>(a, b, 0, 4, 1, 5) : v128.shuffle<i32>(a, b, 2, 6, 3, 7);
  const cd = k < 2 ? v128.shuffle<i32>(c, d, 0, 4, 1, 5) : v128.shuffle<i32>(c, d, 2, 6, 3, 7);
  return (k & 1) == 0 ? v128.shuffle<i32>(ab, cd, 0, 1, 4, 5) : v128.shuffle<i32>(ab, cd, 2, 3, 6, 7);
}

/** `_mm512_reduce_add_ps` order over 16 lanes held as q0..q3 (lanes 0-3, 4-7, 8-11, 12-15). */
// @ts-ignore: decorator
@inline
export function reduce16(q0: v128, q1: v128, q2: v128, q3: v128): f32 {
  const u = f32x4.add(f32x4.add(q0, q2), f32x4.add(q1, q3));
  const t = f32x4.add(u, v128.shuffle<f32>(u, u, 2, 3, 0, 1));
  return f32x4.extract_lane(t, 0) + f32x4.extract_lane(t, 1);
}
