// Activation quantizers: each token row is quantized once per matmul into a per-token area that
// every thread reads. The formulas follow llama.cpp's x86 CPU path so integer dot products agree.
//
// Q8_0 area (n values, nb = n/32):  q8 i8[n] | q16 i16[n] | d f32[nb] | isum i32[nb] | s f32[nb]
//   (s = Q8_1's f16(d·Σq), for Q4_1/Q5_1 weights)
// Q8_K area (n values, nb = n/256): q8 i8[n] | q16 i16[n] | d f32[nb] | bsum16 i16[n/16]
//   (q16 in each 16 values' slot16 order, util.ts)
// F16 / BF16 areas: f32[n] holding values rounded to that type.

import { f32ToF16, f16ToF32, bf16Round, slot16 } from "./util";

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
    let sum = 0;
    for (let j = 0; j < 32; j++) {
      const q = <i32>nearest<f32>(load<f32>(xb + (j << 2)) * id);
      store<i8>(dst + <usize>(b * 32 + j), <i8>q);
      store<i16>(q16 + <usize>((b * 32 + (j & 16) + slot16(j & 15)) << 1), <i16>q);
      sum += q;
    }
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
    let amax: f32 = 0, mx: f32 = 0;
    for (let j = 0; j < 256; j++) {
      const v = load<f32>(xb + (j << 2));
      const a = Mathf.abs(v);
      if (a > amax) { amax = a; mx = v; }
    }
    if (amax == 0) {
      for (let j = 0; j < 256; j++) {
        store<i8>(dst + <usize>(b * 256 + j), 0);
        store<i16>(q16 + <usize>((b * 256 + j) << 1), 0);
      }
      for (let j = 0; j < 16; j++) store<i16>(bs + <usize>((b * 16 + j) << 1), 0);
      store<f32>(dd + (b << 2), 0);
      continue;
    }
    const iscale: f32 = -127.0 / mx;
    for (let g = 0; g < 16; g++) {
      let sum = 0;
      for (let j = g * 16; j < g * 16 + 16; j++) {
        const q = min<i32>(127, nearestInt(iscale * load<f32>(xb + (j << 2))));
        store<i8>(dst + <usize>(b * 256 + j), <i8>q);
        store<i16>(q16 + <usize>((b * 256 + (j & ~15) + slot16(j & 15)) << 1), <i16>q);
        sum += q;
      }
      store<i16>(bs + <usize>((b * 16 + g) << 1), <i16>sum);
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
