// Activation quantizers: each token row is quantized once per matmul into a per-token area that
// every thread reads. The formulas follow llama.cpp's x86 CPU path so integer dot products agree.
//
// Q8_0 area (n values, nb = n/32):  q8 i8[n] | q16 i16[n] | d f32[nb] | isum i32[nb] | s f32[nb]
//   (s = Q8_1's f16(d·Σq), for Q4_1/Q5_1 weights)
// Q8_K area (n values, nb = n/256): q8 i8[n] | q16 i16[n] | d f32[nb] | bsum16 i16[n/16]
//   (q16 in each 16 values' slot16 order, util.ts)
// F16 / BF16 areas: f32[n] holding values rounded to that type.

import { f32ToF16, f16ToF32, bf16Round } from "./util";

export function q8AreaBytes(kind: i32, n: i32): i32 {
  let b: i32;
  if (kind == 0) b = 3 * n + 12 * (n / 32);
  else if (kind == 1) b = 3 * n + 4 * (n / 256) + 2 * (n / 16);
  else b = 4 * n;
  return (b + 63) & ~63;
}

// @ts-ignore: decorator
@inline
function nearestInt(x: f32): i32 {
  // ggml's nearest_int: the 1.5·2^23 trick, round half to even.
  const v = x + 12582912.0;
  return (reinterpret<i32>(v) & 0x007fffff) - 0x00400000;
}

export function quantQ8_0(x: usize, n: i32, dst: usize): void {
  const nb = n / 32;
  const q16 = dst + <usize>n;
  const dd = dst + <usize>(3 * n);
  const ss = dd + <usize>(4 * nb);
  const s1 = ss + <usize>(4 * nb);
  for (let b = 0; b < nb; b++) {
    const xb = x + <usize>(b * 128);
    let m = f32x4.abs(v128.load(xb));
    for (let k = 16; k < 128; k += 16) m = f32x4.max(m, f32x4.abs(v128.load(xb + k)));
    m = f32x4.max(m, v128.shuffle<f32>(m, m, 2, 3, 0, 1));
    const amax = max<f32>(f32x4.extract_lane(m, 0), f32x4.extract_lane(m, 1));
    // x86 AVX flavour (what an x86 llama.cpp runs): multiplier 127/max, round half to even.
    const d: f32 = amax / 127.0;
    const id: f32 = amax != 0 ? <f32>127.0 / amax : 0;
    // Lane-wise the scalar formula: f32 multiply, round half to even, |q| ≤ 127 (exact narrows).
    const iv = f32x4.splat(id);
    let acc = i32x4.splat(0);
    for (let h = 0; h < 2; h++) {
      const p = xb + <usize>(h * 64);
      const q0 = i32x4.trunc_sat_f32x4_s(f32x4.nearest(f32x4.mul(v128.load(p), iv)));
      const q1 = i32x4.trunc_sat_f32x4_s(f32x4.nearest(f32x4.mul(v128.load(p, 16), iv)));
      const q2 = i32x4.trunc_sat_f32x4_s(f32x4.nearest(f32x4.mul(v128.load(p, 32), iv)));
      const q3 = i32x4.trunc_sat_f32x4_s(f32x4.nearest(f32x4.mul(v128.load(p, 48), iv)));
      const h0 = i16x8.narrow_i32x4_s(q0, q1), h1 = i16x8.narrow_i32x4_s(q2, q3);
      v128.store(dst + <usize>(b * 32 + h * 16), i8x16.narrow_i16x8_s(h0, h1));
      const o = q16 + <usize>((b * 32 + h * 16) << 1);
      v128.store(o, v128.shuffle<i32>(h0, h1, 0, 2, 4, 6));
      v128.store(o, v128.shuffle<i32>(h0, h1, 1, 3, 5, 7), 16);
      acc = i32x4.add(acc, i32x4.add(i32x4.add(q0, q1), i32x4.add(q2, q3)));
    }
    const u = i32x4.add(acc, v128.shuffle<i32>(acc, acc, 2, 3, 0, 1));
    const sum = i32x4.extract_lane(u, 0) + i32x4.extract_lane(u, 1);
    store<f32>(dd + (b << 2), f16ToF32(f32ToF16(d)));
    store<i32>(ss + (b << 2), sum);
    store<f32>(s1 + (b << 2), f16ToF32(f32ToF16(d * <f32>sum)));
  }
}

export function quantQ8_K(x: usize, n: i32, dst: usize): void {
  const nb = n / 256;
  const q16 = dst + <usize>n;
  const dd = dst + <usize>(3 * n);
  const bs = dd + <usize>(4 * nb);
  for (let b = 0; b < nb; b++) {
    const xb = x + <usize>(b * 1024);
    // amax: pmax skips NaN as the scalar `a > amax` does; mx is the first value of that magnitude.
    let m = f32x4.splat(0);
    for (let j = 0; j < 1024; j += 16) m = f32x4.pmax(m, f32x4.abs(v128.load(xb + <usize>j)));
    m = f32x4.pmax(m, v128.shuffle<f32>(m, m, 2, 3, 0, 1));
    const amax = max<f32>(f32x4.extract_lane(m, 0), f32x4.extract_lane(m, 1));
    if (amax == 0) {
      memory.fill(dst + <usize>(b * 256), 0, 256);
      memory.fill(q16 + <usize>(b * 512), 0, 512);
      memory.fill(bs + <usize>(b * 32), 0, 32);
      store<f32>(dd + (b << 2), 0);
      continue;
    }
    const av = f32x4.splat(amax);
    let k = 0;
    while (!v128.any_true(f32x4.eq(f32x4.abs(v128.load(xb + <usize>(k << 2))), av))) k += 4;
    while (Mathf.abs(load<f32>(xb + <usize>(k << 2))) != amax) k++;
    const mx = load<f32>(xb + <usize>(k << 2));
    const iscale: f32 = -127.0 / mx;
    const sv = f32x4.splat(iscale), magic = f32x4.splat(12582912.0);
    const lo = i32x4.splat(0x007fffff), bias = i32x4.splat(0x00400000), top = i32x4.splat(127);
    for (let g = 0; g < 16; g++) {
      const p = xb + <usize>(g * 64);
      // nearestInt lane-wise: the same f32 multiply and 1.5·2^23 add as the scalar formula.
      const q0 = i32x4.min_s(i32x4.sub(v128.and(f32x4.add(f32x4.mul(sv, v128.load(p)), magic), lo), bias), top);
      const q1 = i32x4.min_s(i32x4.sub(v128.and(f32x4.add(f32x4.mul(sv, v128.load(p, 16)), magic), lo), bias), top);
      const q2 = i32x4.min_s(i32x4.sub(v128.and(f32x4.add(f32x4.mul(sv, v128.load(p, 32)), magic), lo), bias), top);
      const q3 = i32x4.min_s(i32x4.sub(v128.and(f32x4.add(f32x4.mul(sv, v128.load(p, 48)), magic), lo), bias), top);
      // |q| ≤ 127, so the saturating narrows are exact.
      const h0 = i16x8.narrow_i32x4_s(q0, q1), h1 = i16x8.narrow_i32x4_s(q2, q3);
      v128.store(dst + <usize>(b * 256 + g * 16), i8x16.narrow_i16x8_s(h0, h1));
      // slot16 order: element pairs (0,1)(4,5)(8,9)(12,13), then (2,3)(6,7)(10,11)(14,15).
      const o = q16 + <usize>((b * 256 + g * 16) << 1);
      v128.store(o, v128.shuffle<i32>(h0, h1, 0, 2, 4, 6));
      v128.store(o, v128.shuffle<i32>(h0, h1, 1, 3, 5, 7), 16);
      const t = i32x4.add(i32x4.add(q0, q1), i32x4.add(q2, q3));
      const u = i32x4.add(t, v128.shuffle<i32>(t, t, 2, 3, 0, 1));
      store<i16>(bs + <usize>((b * 16 + g) << 1), <i16>(i32x4.extract_lane(u, 0) + i32x4.extract_lane(u, 1)));
    }
    store<f32>(dd + (b << 2), <f32>1.0 / iscale);
  }
}

export function quantF16(x: usize, n: i32, dst: usize): void {
  for (let j = 0; j < n; j++) store<f32>(dst + (j << 2), f16ToF32(f32ToF16(load<f32>(x + (j << 2)))));
}

export function quantBF16(x: usize, n: i32, dst: usize): void {
  for (let j = 0; j < n; j++) store<f32>(dst + (j << 2), bf16Round(load<f32>(x + (j << 2))));
}
