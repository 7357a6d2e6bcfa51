// Elementwise and attention kernels. Each takes the slice of the work a thread owns.

import { f32ToF16, keepV } from "./util";

// ---- ggml_v_expf (the AVX-512 polynomial behind softmax and SiLU), as src/backend/ref/ggml-math.ts
// computes it: every step one f32 operation, FMAs emulated in f64. Two lanes of f64 holding f32
// values; r32 rounds them to f32 (double rounding is exact for + − × ÷ of f32 operands).

// @ts-ignore: decorator
@inline
function r32(v: v128): v128 { return f64x2.promote_low_f32x4(f32x4.demote_f64x2_zero(v)); }
// @ts-ignore: decorator
@inline
function fma2(a: v128, b: v128, c: v128): v128 { return r32(f64x2.add(f64x2.mul(a, b), c)); }
// @ts-ignore: decorator
@inline
function k2(c: f64): v128 { return f64x2.splat(c); }

export const EXP_R: f64 = 12582912.0;
export const LOG2E: f64 = <f64><f32>1.4426950216293335, LN2_HI: f64 = <f64><f32>0.693145751953125, LN2_LO: f64 = <f64><f32>1.428606765330187e-06;
export const C5: f64 = <f64><f32>0.008247390389442444, C4: f64 = <f64><f32>0.04189976677298546, C3: f64 = <f64><f32>0.16668395698070526;
export const C2: f64 = <f64><f32>0.4999912679195404, C1: f64 = <f64><f32>0.9999994039535522;

/** ggml_v_expf on two f32 values held as f64; lanes whose exponent leaves ±192 are fixed up scalar. */
// @ts-ignore: decorator
@inline
function vexp2(x: v128): v128 {
  const n = r32(f64x2.sub(fma2(x, k2(LOG2E), k2(EXP_R)), k2(EXP_R)));
  const nn = f64x2.neg(n);
  const b = fma2(nn, k2(LN2_LO), fma2(nn, k2(LN2_HI), x));
  const u = r32(f64x2.mul(b, b));
  const j = fma2(fma2(fma2(k2(C5), b, k2(C4)), u, fma2(k2(C3), b, k2(C2))), u, fma2(k2(C1), b, k2(1)));
  const ok = f64x2.le(f64x2.abs(n), k2(192));
  if (!v128.all_true<i64>(ok)) return f64x2.replace_lane(f64x2.splat(expOut(f64x2.extract_lane(n, 0), f64x2.extract_lane(j, 0))), 1, expOut(f64x2.extract_lane(n, 1), f64x2.extract_lane(j, 1)));
  // 2^n built in the exponent field (|n| ≤ 192 is a normal double).
  const e = i64x2.shl(i64x2.add(i64x2.extend_low_i32x4_s(i32x4.trunc_sat_f64x2_s_zero(n)), i64x2.splat(1023)), 52);
  return r32(f64x2.mul(j, e));
}

function expOut(n: f64, j: f64): f64 {
  if (!(Math.abs(n) <= 192)) return n <= 0 ? 0 : isNaN(n) ? n : Infinity;
  return <f64><f32>(j * reinterpret<f64>((<i64>(<i32>n + 1023)) << 52));
}

/** Scalar ggml_v_expf (one lane of vexp2). */
export function vExpf(x: f32): f32 {
  return <f32>f64x2.extract_lane(vexp2(f64x2.splat(<f64>x)), 0);
}

/**
 * ggml_v_expf on four f32 lanes in either build: the relaxed one's vexp4k (the k* arguments are
 * its constants from ek), or two vexp2.
 */
// @ts-ignore: decorator
@inline
export function vexpV(x: v128, kL2e: v128, kR: v128, kHi: v128, kLo: v128, k5: v128, k4: v128, k3: v128, k2: v128, k1: v128,
  kOne: v128, kMax: v128, kS: v128): v128 {
  if (ASC_FEATURE_RELAXED_SIMD) return vexp4k(x, kL2e, kR, kHi, kLo, k5, k4, k3, k2, k1, kOne, kMax, kS);
  const lo = vexp2(f64x2.promote_low_f32x4(x)), hi = vexp2(f64x2.promote_low_f32x4(v128.shuffle<f32>(x, x, 2, 3, 2, 3)));
  return v128.shuffle<f32>(f32x4.demote_f64x2_zero(lo), f32x4.demote_f64x2_zero(hi), 0, 1, 4, 5);
}

/**
 * ggml_v_expf's f32 constants held in registers: V8 rebuilds a splat constant (three instructions)
 * at every use inside a loop, which made the vector exp about twice as slow. Made once per kernel
 * call with a runtime zero `z` (keepV).
 */
// @ts-ignore: decorator
@inline
export function ek(c: f64, z: i32): v128 { return keepV(f32x4.splat(<f32>c), z); }

/**
 * ggml_v_expf on four f32 lanes with f32x4.relaxed_madd as the FMA (the relaxed build; see
 * exact.ts); lanes whose exponent leaves ±126 (where the f32 scaling would round twice) take the
 * f64 path. The k* arguments are the constants from ek (same names as above; kS = sign bit).
 */
// @ts-ignore: decorator
@inline
export function vexp4k(x: v128, kL2e: v128, kR: v128, kHi: v128, kLo: v128, k5: v128, k4: v128, k3: v128, k2: v128, k1: v128,
  kOne: v128, kMax: v128, kS: v128): v128 {
  const z = f32x4.relaxed_madd(x, kL2e, kR);
  const n = f32x4.sub(z, kR);
  const nn = v128.xor(n, kS);
  const b = f32x4.relaxed_madd(nn, kLo, f32x4.relaxed_madd(nn, kHi, x));
  const u = f32x4.mul(b, b);
  const j = f32x4.relaxed_madd(f32x4.relaxed_madd(f32x4.relaxed_madd(k5, b, k4), u, f32x4.relaxed_madd(k3, b, k2)), u,
    f32x4.relaxed_madd(k1, b, kOne));
  if (!i32x4.all_true(f32x4.le(v128.andnot(n, kS), kMax))) {
    const lo = vexp2(f64x2.promote_low_f32x4(x)), hi = vexp2(f64x2.promote_low_f32x4(v128.shuffle<f32>(x, x, 2, 3, 2, 3)));
    return v128.shuffle<f32>(f32x4.demote_f64x2_zero(lo), f32x4.demote_f64x2_zero(hi), 0, 1, 4, 5);
  }
  // 2^n as f32 bits: (n + 127) << 23, with 127 taken from kOne's exponent field (1.0f = 127 << 23).
  return f32x4.mul(j, i32x4.add(i32x4.shl(i32x4.trunc_sat_f32x4_s(n), 23), kOne));
}

/**
 * ggml_vec_swiglu_f32 over indices [i0, i1) of a run of n values: ggml_v_silu (x / (1 + v_expf(−x)))
 * on whole vectors of 16, libm expf on the last n mod 16.
 */
export function siluMul(g: usize, u: usize, i0: i32, i1: i32, n: i32, out: usize): void {
  const vec = min<i32>(i1, n - n % 16);
  let i = i0;
  if (ASC_FEATURE_RELAXED_SIMD) {
    const z = n >> 31;
    const kL2e = ek(LOG2E, z), kR = ek(EXP_R, z), kHi = ek(LN2_HI, z), kLo = ek(LN2_LO, z), k5 = ek(C5, z), k4 = ek(C4, z);
    const k3 = ek(C3, z), k2 = ek(C2, z), k1 = ek(C1, z), kOne = ek(1, z), kMax = ek(126, z), kS = keepV(i32x4.splat(0x80000000), z);
    for (; i + 4 <= vec; i += 4) {
      const o = <usize>i << 2;
      const x = v128.load(g + o);
      const s = f32x4.div(x, f32x4.add(kOne, vexp4k(v128.xor(x, kS), kL2e, kR, kHi, kLo, k5, k4, k3, k2, k1, kOne, kMax, kS)));
      v128.store(out + o, f32x4.mul(s, v128.load(u + o)));
    }
  }
  for (; i + 2 <= vec; i += 2) {
    const o = <usize>i << 2;
    const x = f64x2.promote_low_f32x4(v128.load64_zero(g + o));
    const s = r32(f64x2.div(x, r32(f64x2.add(k2(1), vexp2(f64x2.neg(x))))));
    const y = f32x4.demote_f64x2_zero(f64x2.mul(s, f64x2.promote_low_f32x4(v128.load64_zero(u + o))));
    v128.store64_lane(out + o, y, 0);
  }
  for (; i < i1; i++) {
    const o = <usize>i << 2;
    const x = load<f32>(g + o);
    const e: f32 = i < vec ? vExpf(-x) : <f32>Math.exp(<f64>-x);
    store<f32>(out + o, (x / (<f32>1 + e)) * load<f32>(u + o));
  }
}

export function add(a: usize, b: usize, i0: i32, i1: i32, out: usize): void {
  let i = i0;
  for (; i + 4 <= i1; i += 4) {
    const o = <usize>i << 2;
    v128.store(out + o, f32x4.add(v128.load(a + o), v128.load(b + o)));
  }
  for (; i < i1; i++) {
    const o = <usize>i << 2;
    store<f32>(out + o, load<f32>(a + o) + load<f32>(b + o));
  }
}

export function addBias(x: usize, bias: usize, t0: i32, t1: i32, width: i32): void {
  for (let t = t0; t < t1; t++) add(x + (<usize>t * <usize>width << 2), bias, 0, width, x + (<usize>t * <usize>width << 2));
}

/** ggml_compute_forward_rms_norm_f32: f32 squares summed in double in order, then f32 arithmetic. */
export function rmsNorm(x: usize, w: usize, t0: i32, t1: i32, width: i32, eps: f64, out: usize): void {
  for (let t = t0; t < t1; t++) {
    const xr = x + (<usize>t * <usize>width << 2), orow = out + (<usize>t * <usize>width << 2);
    let sum: f64 = 0;
    let i = 0;
    for (; i + 4 <= width; i += 4) {
      const v = v128.load(xr + (<usize>i << 2));
      const sq = f32x4.mul(v, v);
      sum += <f64>f32x4.extract_lane(sq, 0);
      sum += <f64>f32x4.extract_lane(sq, 1);
      sum += <f64>f32x4.extract_lane(sq, 2);
      sum += <f64>f32x4.extract_lane(sq, 3);
    }
    for (; i < width; i++) { const v = load<f32>(xr + (<usize>i << 2)); sum += <f64>(v * v); }
    const scale: f32 = <f32>1 / Mathf.sqrt(<f32>(<f64><f32>(sum / <f64>width) + eps));
    const sv = f32x4.splat(scale);
    i = 0;
    for (; i + 4 <= width; i += 4) {
      const o = <usize>i << 2;
      v128.store(orow + o, f32x4.mul(f32x4.mul(v128.load(xr + o), sv), v128.load(w + o)));
    }
    for (; i < width; i++) {
      const o = <usize>i << 2;
      store<f32>(orow + o, (load<f32>(xr + o) * scale) * load<f32>(w + o));
    }
  }
}

/**
 * Rotate heads [j0, j1) of the flattened (token, head) list; tab holds cos[half] | sin[half] per
 * token. rotate_pairs as GCC contracts it: fma(x0, cos, −f32(x1·sin)), fma(x0, sin, f32(x1·cos)).
 */
export function rope(x: usize, j0: i32, j1: i32, nHeads: i32, headDim: i32, tab: usize, dims: i32, neox: i32): void {
  const half = dims >> 1;
  for (let j = j0; j < j1; j++) {
    const t = j / nHeads;
    const base = x + (<usize>j * <usize>headDim << 2);
    const cs = tab + (<usize>t * <usize>dims << 2), sn = cs + (<usize>half << 2);
    for (let i = 0; i < half; i++) {
      const pa = base + (<usize>(neox ? i : i << 1) << 2);
      const pb = pa + (neox ? <usize>half << 2 : 4);
      const x0 = load<f32>(pa), x1 = load<f32>(pb);
      const c = load<f32>(cs + (<usize>i << 2)), s = load<f32>(sn + (<usize>i << 2));
      store<f32>(pa, <f32>(<f64>x0 * <f64>c - <f64>(x1 * s)));
      store<f32>(pb, <f32>(<f64>x0 * <f64>s + <f64>(x1 * c)));
    }
  }
}

export function setRows(cache: usize, f16: i32, width: i32, cells: usize, t0: i32, t1: i32, src: usize): void {
  for (let t = t0; t < t1; t++) {
    const cell = <usize>load<i32>(cells + (<usize>t << 2));
    const s = src + (<usize>t * <usize>width << 2);
    if (f16) {
      const d = cache + (cell * <usize>width << 1);
      for (let i = 0; i < width; i++) store<u16>(d + (<usize>i << 1), <u16>f32ToF16(load<f32>(s + (<usize>i << 2))));
    } else {
      memory.copy(cache + (cell * <usize>width << 2), s, <usize>width << 2);
    }
  }
}
