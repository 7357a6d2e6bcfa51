// Elementwise and attention kernels. Each takes the slice of the work a thread owns.

import { f16ToF32, f32ToF16, f32RoundF16, reduce4f } from "./util";

/** e^x on 4 lanes (Cephes-style range reduction + degree-6 polynomial, ~1 ulp on [-87, 88]). */
// @ts-ignore: decorator
@inline
export function expF32x4(x: v128): v128 {
  x = f32x4.min(f32x4.max(x, f32x4.splat(-87.33654)), f32x4.splat(88.72283));
  const fx = f32x4.floor(f32x4.add(f32x4.mul(x, f32x4.splat(1.44269504088896341)), f32x4.splat(0.5)));
  x = f32x4.sub(x, f32x4.mul(fx, f32x4.splat(0.693359375)));
  x = f32x4.sub(x, f32x4.mul(fx, f32x4.splat(-2.12194440e-4)));
  let y = f32x4.splat(1.9875691500e-4);
  y = f32x4.add(f32x4.mul(y, x), f32x4.splat(1.3981999507e-3));
  y = f32x4.add(f32x4.mul(y, x), f32x4.splat(8.3334519073e-3));
  y = f32x4.add(f32x4.mul(y, x), f32x4.splat(4.1665795894e-2));
  y = f32x4.add(f32x4.mul(y, x), f32x4.splat(1.6666665459e-1));
  y = f32x4.add(f32x4.mul(y, x), f32x4.splat(5.0000001201e-1));
  y = f32x4.add(f32x4.add(f32x4.mul(f32x4.mul(y, x), x), x), f32x4.splat(1.0));
  // 2^fx built in the exponent field; fx ∈ [-127, 128], split in two factors to stay finite.
  const n = i32x4.trunc_sat_f32x4_s(fx);
  const h = i32x4.shr_s(n, 1);
  const p1 = i32x4.shl(i32x4.add(h, i32x4.splat(127)), 23);
  const p2 = i32x4.shl(i32x4.add(i32x4.sub(n, h), i32x4.splat(127)), 23);
  return f32x4.mul(f32x4.mul(y, p1), p2);
}

export function siluMul(g: usize, u: usize, i0: i32, i1: i32, out: usize): void {
  let i = i0;
  const one = f32x4.splat(1);
  for (; i + 4 <= i1; i += 4) {
    const o = <usize>i << 2;
    const x = v128.load(g + o);
    const s = f32x4.div(x, f32x4.add(one, expF32x4(f32x4.neg(x))));
    v128.store(out + o, f32x4.mul(s, v128.load(u + o)));
  }
  for (; i < i1; i++) {
    const o = <usize>i << 2;
    const x = f32x4.splat(load<f32>(g + o));
    const s = f32x4.div(x, f32x4.add(one, expF32x4(f32x4.neg(x))));
    store<f32>(out + o, f32x4.extract_lane(s, 0) * load<f32>(u + o));
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

export function rmsNorm(x: usize, w: usize, t0: i32, t1: i32, width: i32, eps: f32, out: usize): void {
  for (let t = t0; t < t1; t++) {
    const xr = x + (<usize>t * <usize>width << 2), orow = out + (<usize>t * <usize>width << 2);
    // Sum of squares in double, as llama.cpp does.
    let s0 = f64x2.splat(0), s1 = f64x2.splat(0);
    let i = 0;
    for (; i + 4 <= width; i += 4) {
      const v = v128.load(xr + (<usize>i << 2));
      const lo = f64x2.promote_low_f32x4(v), hi = f64x2.promote_low_f32x4(v128.shuffle<f32>(v, v, 2, 3, 0, 1));
      s0 = f64x2.add(s0, f64x2.mul(lo, lo));
      s1 = f64x2.add(s1, f64x2.mul(hi, hi));
    }
    let sum = f64x2.extract_lane(s0, 0) + f64x2.extract_lane(s0, 1) + f64x2.extract_lane(s1, 0) + f64x2.extract_lane(s1, 1);
    for (; i < width; i++) { const v = <f64>load<f32>(xr + (<usize>i << 2)); sum += v * v; }
    const scale = <f32>(1.0 / Math.sqrt(<f64><f32>(sum / <f64>width + <f64>eps)));
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

/** Rotate heads [j0, j1) of the flattened (token, head) list; tab holds cos[half] | sin[half] per token. */
export function rope(x: usize, j0: i32, j1: i32, nHeads: i32, headDim: i32, tab: usize, dims: i32, neox: i32): void {
  const half = dims >> 1;
  for (let j = j0; j < j1; j++) {
    const t = j / nHeads;
    const base = x + (<usize>j * <usize>headDim << 2);
    const cs = tab + (<usize>t * <usize>dims << 2), sn = cs + (<usize>half << 2);
    for (let i = 0; i < half; i++) {
      const pa = base + (<usize>(neox ? i : i << 1) << 2);
      const pb = pa + (neox ? <usize>half << 2 : 4);
      const x0 = <f64>load<f32>(pa), x1 = <f64>load<f32>(pb);
      const c = <f64>load<f32>(cs + (<usize>i << 2)), s = <f64>load<f32>(sn + (<usize>i << 2));
      store<f32>(pa, <f32>(x0 * c - x1 * s));
      store<f32>(pb, <f32>(x0 * s + x1 * c));
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

// @ts-ignore: decorator
@inline
function loadKV(f16: i32, p: usize, i: i32): v128 {
  if (!f16) return v128.load(p + (<usize>i << 2));
  const h = i32x4.extend_low_i16x8_u(v128.load64_zero(p + (<usize>i << 1)));
  const mag = f32x4.mul(i32x4.shl(v128.and(h, i32x4.splat(0x7fff)), 13), f32x4.splat(reinterpret<f32>(0x77800000)));
  return v128.or(mag, i32x4.shl(v128.and(h, i32x4.splat(0x8000)), 16));
}

// @ts-ignore: decorator
@inline
function loadKVs(f16: i32, p: usize, i: i32): f32 {
  return f16 ? f16ToF32(load<u16>(p + (<usize>i << 1))) : load<f32>(p + (<usize>i << 2));
}

// @ts-ignore: decorator
@inline
function fmaf(a: v128, b: v128, c: v128): v128 {
  if (ASC_FEATURE_RELAXED_SIMD) return f32x4.relaxed_madd(a, b, c);
  return f32x4.add(f32x4.mul(a, b), c);
}

/**
 * Attention for (token, KV head) units [j0, j1): the `group` query heads sharing a KV head are
 * done together, so each cached K/V row is loaded and widened from f16 once per group of 4
 * heads instead of once per head. `scratch` is this thread's area (group·(count + headDim) f32).
 * out may alias q (a unit reads its q rows before writing the same rows).
 */
export function attention(q: usize, k: usize, v: usize, f16: i32, cells: usize, start: usize, count: usize,
  nHeads: i32, nKvHeads: i32, headDim: i32, scale: f32, j0: i32, j1: i32, out: usize, scratch: usize): void {
  const group = nHeads / nKvHeads;
  const kvWidth = nKvHeads * headDim;
  const esz: usize = f16 ? 2 : 4;
  const d4 = headDim & ~3;
  const hb = <usize>headDim << 2;
  for (let j = j0; j < j1; j++) {
    const t = j / nKvHeads, kvh = j - t * nKvHeads;
    const st = load<i32>(start + (<usize>t << 2)), cnt = load<i32>(count + (<usize>t << 2));
    const base = <usize>(t * nHeads + kvh * group) * hb;
    const ob = out + base;
    const sc = scratch;
    let qb = q + base;
    if (f16) {
      // llama.cpp converts q to f16 for the K·q product with an f16 cache (K's vec_dot_type).
      const qr = scratch + (<usize>(group * cnt) << 2);
      for (let i = 0; i < group * headDim; i++) store<f32>(qr + (<usize>i << 2), f32RoundF16(load<f32>(qb + (<usize>i << 2))));
      qb = qr;
    }
    // Scores, 4 heads per pass over the K row (heads past the group repeat the last one).
    for (let c = 0; c < cnt; c++) {
      const cell = load<i32>(cells + (<usize>(st + c) << 2));
      const kp = k + (<usize>(cell * kvWidth + kvh * headDim)) * esz;
      for (let g = 0; g < group; g += 4) {
        const q0 = qb + <usize>g * hb;
        const q1 = g + 1 < group ? q0 + hb : q0, q2 = g + 2 < group ? q0 + 2 * hb : q0, q3 = g + 3 < group ? q0 + 3 * hb : q0;
        let a0 = f32x4.splat(0), a1 = a0, a2 = a0, a3 = a0;
        for (let i = 0; i < d4; i += 4) {
          const kv = loadKV(f16, kp, i);
          const o = <usize>i << 2;
          a0 = f32x4.add(a0, f32x4.mul(v128.load(q0 + o), kv));
          a1 = f32x4.add(a1, f32x4.mul(v128.load(q1 + o), kv));
          a2 = f32x4.add(a2, f32x4.mul(v128.load(q2 + o), kv));
          a3 = f32x4.add(a3, f32x4.mul(v128.load(q3 + o), kv));
        }
        let dots = reduce4f(a0, a1, a2, a3);
        for (let i = d4; i < headDim; i++) {
          const kv = loadKVs(f16, kp, i), o = <usize>i << 2;
          dots = f32x4.add(dots, f32x4.mul(f32x4.splat(kv),
            f32x4.replace_lane(f32x4.replace_lane(f32x4.replace_lane(f32x4.splat(load<f32>(q0 + o)), 1, load<f32>(q1 + o)), 2, load<f32>(q2 + o)), 3, load<f32>(q3 + o))));
        }
        dots = f32x4.mul(dots, f32x4.splat(scale));
        store<f32>(sc + (<usize>(g * cnt + c) << 2), f32x4.extract_lane(dots, 0));
        if (g + 1 < group) store<f32>(sc + (<usize>((g + 1) * cnt + c) << 2), f32x4.extract_lane(dots, 1));
        if (g + 2 < group) store<f32>(sc + (<usize>((g + 2) * cnt + c) << 2), f32x4.extract_lane(dots, 2));
        if (g + 3 < group) store<f32>(sc + (<usize>((g + 3) * cnt + c) << 2), f32x4.extract_lane(dots, 3));
      }
    }
    // Softmax per head.
    for (let g = 0; g < group; g++) {
      const row = sc + (<usize>(g * cnt) << 2);
      let mx: f32 = -Infinity;
      for (let c = 0; c < cnt; c++) mx = max<f32>(mx, load<f32>(row + (<usize>c << 2)));
      let sum: f64 = 0;
      const mv = f32x4.splat(mx);
      let c = 0;
      for (; c + 4 <= cnt; c += 4) {
        const e = expF32x4(f32x4.sub(v128.load(row + (<usize>c << 2)), mv));
        v128.store(row + (<usize>c << 2), e);
        sum += <f64>f32x4.extract_lane(e, 0) + <f64>f32x4.extract_lane(e, 1) + <f64>f32x4.extract_lane(e, 2) + <f64>f32x4.extract_lane(e, 3);
      }
      for (; c < cnt; c++) {
        const e = f32x4.extract_lane(expF32x4(f32x4.splat(load<f32>(row + (<usize>c << 2)) - mx)), 0);
        store<f32>(row + (<usize>c << 2), e);
        sum += <f64>e;
      }
      const inv = <f32>(1.0 / sum);
      for (c = 0; c < cnt; c++) {
        let p = load<f32>(row + (<usize>c << 2)) * inv;
        if (f16) p = f32RoundF16(p); // and the probabilities to f16 for the V product
        store<f32>(row + (<usize>c << 2), p);
      }
    }
    // Σ p·V, each V row widened once for the whole group.
    memory.fill(ob, 0, <usize>(group * headDim) << 2);
    for (let c = 0; c < cnt; c++) {
      const cell = load<i32>(cells + (<usize>(st + c) << 2));
      const vp = v + (<usize>(cell * kvWidth + kvh * headDim)) * esz;
      let i = 0;
      for (; i < d4; i += 4) {
        const vv = loadKV(f16, vp, i);
        for (let g = 0; g < group; g++) {
          const o = ob + <usize>g * hb + (<usize>i << 2);
          v128.store(o, fmaf(f32x4.splat(load<f32>(sc + (<usize>(g * cnt + c) << 2))), vv, v128.load(o)));
        }
      }
      for (; i < headDim; i++) {
        const vs = loadKVs(f16, vp, i);
        for (let g = 0; g < group; g++) {
          const o = ob + <usize>g * hb + (<usize>i << 2);
          store<f32>(o, load<f32>(o) + load<f32>(sc + (<usize>(g * cnt + c) << 2)) * vs);
        }
      }
    }
  }
}
