// F32 / F16 / BF16 weights, plain row-major; activations are f32 already rounded to the weight's
// dot type. `r0..r1` are rows. The arithmetic is llama.cpp's x86 AVX-512 code as the reference
// spells it out (src/backend/ref/vecdot.ts): MODE_TINY is llamafile's tinyBLAS (16 lanes, lane l
// over elements ≡ l mod 16, then _mm512_reduce_add_ps); MODE_VEC is ggml_vec_dot_f32/_f16/_bf16
// (64 lanes in four 16-lane accumulators, then a tail). f16 and bf16 products are exact in f32,
// so their FMAs equal a multiply and an add (one relaxed madd, exact.ts addExact); f32 products
// need a true FMA (relaxed build) or go through f64 (plain build).

import { f16ToF32, f16x4, f16Keep, f16Scale } from "./util";
import { addExact, fmaVV, reduce16 } from "./exact";
import { MODE_TINY } from "./matmul";

// Kinds: 0 f32, 1 f16, 2 bf16 weights; 3 = f32 values already widened from f16 (f32 loads, f16
// arithmetic: exact products), used by the attention on K/V rows widened once per GQA group.

// @ts-ignore: decorator
@inline
export function loadW(kind: i32, p: usize, i: i32, keep: v128, scale: v128): v128 {
  if (kind == 0 || kind == 3) return v128.load(p + (<usize>i << 2));
  if (kind == 2) return i32x4.shl(i32x4.extend_low_i16x8_u(v128.load64_zero(p + (<usize>i << 1))), 16);
  return f16x4(p + (<usize>i << 1), keep, scale);
}

// @ts-ignore: decorator
@inline
export function loadS(kind: i32, p: usize, i: i32): f32 {
  if (kind == 0 || kind == 3) return load<f32>(p + (<usize>i << 2));
  if (kind == 2) return reinterpret<f32>(<u32>load<u16>(p + (<usize>i << 1)) << 16);
  return f16ToF32(load<u16>(p + (<usize>i << 1)));
}

/** One lane vector's fused multiply-add over elements i..i+3. */
// @ts-ignore: decorator
@inline
function step(kind: i32, acc: v128, w: usize, x: usize, i: i32, keep: v128, scale: v128): v128 {
  const wv = loadW(kind, w, i, keep, scale), xv = v128.load(x + (<usize>i << 2));
  return kind == 0 ? fmaVV(acc, wv, xv) : addExact(acc, wv, xv);
}

/** bf16 pairs of elements i..i+7: lane j += w·x of element 2j+1, then of element 2j (`_mm512_dpbf16_ps`). */
// @ts-ignore: decorator
@inline
function bfStep(acc: v128, w: usize, x: usize, i: i32): v128 {
  const v = v128.load(w + (<usize>i << 1));
  const we = i32x4.shl(v, 16), wo = v128.and(v, i32x4.splat(0xffff0000));
  const x0 = v128.load(x + (<usize>i << 2)), x1 = v128.load(x + (<usize>i << 2), 16);
  const xe = v128.shuffle<f32>(x0, x1, 0, 2, 4, 6), xo = v128.shuffle<f32>(x0, x1, 1, 3, 5, 7);
  return addExact(addExact(acc, wo, xo), we, xe);
}

/** tinyBLAS: 16 lanes over elements ≡ l (mod 16); BF16 over 32-element steps of lane pairs. */
// @ts-ignore: decorator
@inline
export function tinyDot(kind: i32, w: usize, x: usize, n: i32): f32 {
  const keep = f16Keep(n >> 31), scale = f16Scale(n >> 31);
  let a0 = f32x4.splat(0), a1 = a0, a2 = a0, a3 = a0;
  if (kind == 2) {
    for (let i = 0; i < n; i += 32) {
      a0 = bfStep(a0, w, x, i); a1 = bfStep(a1, w, x, i + 8); a2 = bfStep(a2, w, x, i + 16); a3 = bfStep(a3, w, x, i + 24);
    }
  } else {
    for (let i = 0; i < n; i += 16) {
      a0 = step(kind, a0, w, x, i, keep, scale); a1 = step(kind, a1, w, x, i + 4, keep, scale); a2 = step(kind, a2, w, x, i + 8, keep, scale); a3 = step(kind, a3, w, x, i + 12, keep, scale);
    }
  }
  return reduce16(a0, a1, a2, a3);
}

/** ggml_vec_dot_f32 / _f16: four 16-lane accumulators over chunks of 64, then the tail. */
// @ts-ignore: decorator
@inline
export function vecDotF(kind: i32, w: usize, x: usize, n: i32): f32 {
  const keep = f16Keep(n >> 31), scale = f16Scale(n >> 31);
  const z = f32x4.splat(0);
  let v0 = z, v1 = z, v2 = z, v3 = z, v4 = z, v5 = z, v6 = z, v7 = z;
  let v8 = z, v9 = z, v10 = z, v11 = z, v12 = z, v13 = z, v14 = z, v15 = z;
  const np = n & ~63;
  for (let i = 0; i < np; i += 64) {
    v0 = step(kind, v0, w, x, i, keep, scale); v1 = step(kind, v1, w, x, i + 4, keep, scale); v2 = step(kind, v2, w, x, i + 8, keep, scale); v3 = step(kind, v3, w, x, i + 12, keep, scale);
    v4 = step(kind, v4, w, x, i + 16, keep, scale); v5 = step(kind, v5, w, x, i + 20, keep, scale); v6 = step(kind, v6, w, x, i + 24, keep, scale); v7 = step(kind, v7, w, x, i + 28, keep, scale);
    v8 = step(kind, v8, w, x, i + 32, keep, scale); v9 = step(kind, v9, w, x, i + 36, keep, scale); v10 = step(kind, v10, w, x, i + 40, keep, scale); v11 = step(kind, v11, w, x, i + 44, keep, scale);
    v12 = step(kind, v12, w, x, i + 48, keep, scale); v13 = step(kind, v13, w, x, i + 52, keep, scale); v14 = step(kind, v14, w, x, i + 56, keep, scale); v15 = step(kind, v15, w, x, i + 60, keep, scale);
  }
  // Accumulators 0+2 and 1+3 (of 16 lanes each), then 0+1.
  v0 = f32x4.add(v0, v8); v1 = f32x4.add(v1, v9); v2 = f32x4.add(v2, v10); v3 = f32x4.add(v3, v11);
  v4 = f32x4.add(v4, v12); v5 = f32x4.add(v5, v13); v6 = f32x4.add(v6, v14); v7 = f32x4.add(v7, v15);
  const s = reduce16(f32x4.add(v0, v4), f32x4.add(v1, v5), f32x4.add(v2, v6), f32x4.add(v3, v7));
  if (kind != 0) {
    // ggml_vec_dot_f16 adds the tail in double.
    let sum = <f64>s;
    for (let i = np; i < n; i++) sum += <f64>loadS(kind, w, i) * <f64>load<f32>(x + (<usize>i << 2));
    return <f32>sum;
  }
  // f32: the compiled tail multiplies in vectors of 16 and 8 with in-order adds, then scalar FMAs.
  let sum = s;
  const unfused = np + ((n - np) & ~7);
  let i = np;
  for (; i < unfused; i++) sum += loadS(kind, w, i) * load<f32>(x + (<usize>i << 2));
  for (; i < n; i++) sum = <f32>(<f64>loadS(kind, w, i) * <f64>load<f32>(x + (<usize>i << 2)) + <f64>sum);
  return sum;
}

/** ggml_vec_dot_bf16 (AVX512_BF16): two 16-lane accumulators (halves of each 64-chunk), sums and tail in double. */
// @ts-ignore: decorator
@inline
function vecDotBF16(w: usize, x: usize, n: i32): f32 {
  const z = f32x4.splat(0);
  let a0 = z, a1 = z, a2 = z, a3 = z, b0 = z, b1 = z, b2 = z, b3 = z;
  let i = 0;
  for (; i + 64 <= n; i += 64) {
    a0 = bfStep(a0, w, x, i); a1 = bfStep(a1, w, x, i + 8); a2 = bfStep(a2, w, x, i + 16); a3 = bfStep(a3, w, x, i + 24);
    b0 = bfStep(b0, w, x, i + 32); b1 = bfStep(b1, w, x, i + 40); b2 = bfStep(b2, w, x, i + 48); b3 = bfStep(b3, w, x, i + 56);
  }
  let sum = <f64>reduce16(a0, a1, a2, a3);
  sum += <f64>reduce16(b0, b1, b2, b3);
  for (; i < n; i++) sum += <f64>loadS(2, w, i) * <f64>load<f32>(x + (<usize>i << 2));
  return <f32>sum;
}

// @ts-ignore: decorator
@inline
function mmFloat(kind: i32, w: usize, cols: i32, rows: i32, r0: i32, r1: i32, act: usize, actStride: i32, nTok: i32, out: usize, mode: i32): void {
  const esz: usize = kind == 0 ? 4 : 2;
  const tiny = mode == MODE_TINY;
  for (let r = r0; r < r1; r++) {
    const p = w + <usize>r * <usize>cols * esz;
    for (let t = 0; t < nTok; t++) {
      const x = act + <usize>t * <usize>actStride;
      const v = tiny ? tinyDot(kind, p, x, cols) : kind == 2 ? vecDotBF16(p, x, cols) : vecDotF(kind, p, x, cols);
      store<f32>(out + ((<usize>t * <usize>rows + <usize>r) << 2), v);
    }
  }
}

export function mmF32(w: usize, cols: i32, rows: i32, r0: i32, r1: i32, act: usize, actStride: i32, nTok: i32, out: usize, mode: i32): void {
  mmFloat(0, w, cols, rows, r0, r1, act, actStride, nTok, out, mode);
}
export function mmF16(w: usize, cols: i32, rows: i32, r0: i32, r1: i32, act: usize, actStride: i32, nTok: i32, out: usize, mode: i32): void {
  mmFloat(1, w, cols, rows, r0, r1, act, actStride, nTok, out, mode);
}
export function mmBF16(w: usize, cols: i32, rows: i32, r0: i32, r1: i32, act: usize, actStride: i32, nTok: i32, out: usize, mode: i32): void {
  mmFloat(2, w, cols, rows, r0, r1, act, actStride, nTok, out, mode);
}
