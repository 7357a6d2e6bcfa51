// Quantized matrix × activations. Weights are repacked at load (repack.ts): rows in groups of 4,
// the 4 rows' quants of one block side by side, scales in a separate f32 array. A group's weights
// stay in L1 while every token of the batch streams past them, so prefill reads weights once.
// Each kernel computes row groups [g0, g1) for all nTok tokens: out[t*rows + r].

import { reduce4, reduce4f, storeLanes, dotI8U7, dot2I8U7, f16ToF32 } from "./util";

const ZERO = i32x4.splat(0);

/** High nibbles of 16 bytes. x64 has no byte shifts (V8 emulates i8x16.shr_u with several
 * instructions), so shift 16-bit lanes and mask off what crossed from the neighbouring byte. */
// @ts-ignore: decorator
@inline
function hiNib(w: v128): v128 {
  return v128.and(i16x8.shr_u(w, 4), i8x16.splat(0x0f));
}

// ---- Q8_0 × Q8_0: i8 weights widened to i16 against activations widened once per op.
// @ts-ignore: decorator
@inline
function half2(a: v128, b: v128): v128 {
  // Pairwise-partial reduction of two rows: lanes [a0+a2, b0+b2, a1+a3, b1+b3].
  return i32x4.add(v128.shuffle<i32>(a, b, 0, 4, 1, 5), v128.shuffle<i32>(a, b, 2, 6, 3, 7));
}

// @ts-ignore: decorator
@inline
function join2(t0: v128, t1: v128): v128 {
  // Finishes reduce4 from two half2 results: lane r = total of row r.
  return i32x4.add(v128.shuffle<i32>(t0, t1, 0, 1, 4, 5), v128.shuffle<i32>(t0, t1, 2, 3, 6, 7));
}

// @ts-ignore: decorator
@inline
function q8Row(p: usize, xa: usize): v128 {
  const w = v128.load(p), u = v128.load(p, 16);
  return i32x4.add(
    i32x4.add(i32x4.dot_i16x8_s(i16x8.extend_low_i8x16_s(w), v128.load(xa)), i32x4.dot_i16x8_s(i16x8.extend_high_i8x16_s(w), v128.load(xa, 16))),
    i32x4.add(i32x4.dot_i16x8_s(i16x8.extend_low_i8x16_s(u), v128.load(xa, 32)), i32x4.dot_i16x8_s(i16x8.extend_high_i8x16_s(u), v128.load(xa, 48))));
}

// @ts-ignore: decorator
@inline
function q8Dot(w0: v128, w1: v128, w2: v128, w3: v128, xa: usize): v128 {
  return i32x4.add(
    i32x4.add(i32x4.dot_i16x8_s(w0, v128.load(xa)), i32x4.dot_i16x8_s(w1, v128.load(xa, 16))),
    i32x4.add(i32x4.dot_i16x8_s(w2, v128.load(xa, 32)), i32x4.dot_i16x8_s(w3, v128.load(xa, 48))));
}

export function mmQ8_0(wq: usize, ws: usize, cols: i32, rows: i32, g0: i32, g1: i32, act: usize, actStride: i32, nTok: i32, out: usize): void {
  const nb = cols / 32;
  for (let g = g0; g < g1; g++) {
    const gq = wq + <usize>g * <usize>nb * 128;
    const gs = ws + <usize>g * <usize>nb * 16;
    const valid = min<i32>(4, rows - g * 4);
    let t = 0;
    // Token pairs share each widened weight (prefill).
    for (; t + 2 <= nTok; t += 2) {
      const a = act + <usize>t * <usize>actStride, b2 = a + <usize>actStride;
      const ad = a + <usize>(3 * cols), bd = b2 + <usize>(3 * cols);
      let acc0 = f32x4.splat(0), acc1 = f32x4.splat(0);
      for (let b = 0; b < nb; b++) {
        const xa = a + <usize>cols + <usize>(b * 64), ya = b2 + <usize>cols + <usize>(b * 64);
        const p = gq + <usize>(b * 128);
        // Rows in pairs, reduced halfway at once to keep few vectors live.
        let w = v128.load(p), u = v128.load(p, 16);
        let e0 = i16x8.extend_low_i8x16_s(w), e1 = i16x8.extend_high_i8x16_s(w), e2 = i16x8.extend_low_i8x16_s(u), e3 = i16x8.extend_high_i8x16_s(u);
        const x0 = q8Dot(e0, e1, e2, e3, xa), y0 = q8Dot(e0, e1, e2, e3, ya);
        w = v128.load(p, 32); u = v128.load(p, 48);
        e0 = i16x8.extend_low_i8x16_s(w); e1 = i16x8.extend_high_i8x16_s(w); e2 = i16x8.extend_low_i8x16_s(u); e3 = i16x8.extend_high_i8x16_s(u);
        const hx01 = half2(x0, q8Dot(e0, e1, e2, e3, xa)), hy01 = half2(y0, q8Dot(e0, e1, e2, e3, ya));
        w = v128.load(p, 64); u = v128.load(p, 80);
        e0 = i16x8.extend_low_i8x16_s(w); e1 = i16x8.extend_high_i8x16_s(w); e2 = i16x8.extend_low_i8x16_s(u); e3 = i16x8.extend_high_i8x16_s(u);
        const x2 = q8Dot(e0, e1, e2, e3, xa), y2 = q8Dot(e0, e1, e2, e3, ya);
        w = v128.load(p, 96); u = v128.load(p, 112);
        e0 = i16x8.extend_low_i8x16_s(w); e1 = i16x8.extend_high_i8x16_s(w); e2 = i16x8.extend_low_i8x16_s(u); e3 = i16x8.extend_high_i8x16_s(u);
        const hx23 = half2(x2, q8Dot(e0, e1, e2, e3, xa)), hy23 = half2(y2, q8Dot(e0, e1, e2, e3, ya));
        const sc = v128.load(gs + <usize>(b * 16));
        acc0 = f32x4.add(acc0, f32x4.mul(f32x4.mul(sc, f32x4.splat(load<f32>(ad + (b << 2)))), f32x4.convert_i32x4_s(join2(hx01, hx23))));
        acc1 = f32x4.add(acc1, f32x4.mul(f32x4.mul(sc, f32x4.splat(load<f32>(bd + (b << 2)))), f32x4.convert_i32x4_s(join2(hy01, hy23))));
      }
      storeLanes(out + ((<usize>t * <usize>rows + <usize>(g * 4)) << 2), acc0, valid);
      storeLanes(out + ((<usize>(t + 1) * <usize>rows + <usize>(g * 4)) << 2), acc1, valid);
    }
    for (; t < nTok; t++) {
      const a = act + <usize>t * <usize>actStride;
      const a16 = a + <usize>cols;
      const ad = a + <usize>(3 * cols);
      let acc = f32x4.splat(0);
      for (let b = 0; b < nb; b++) {
        const xa = a16 + <usize>(b * 64);
        const p = gq + <usize>(b * 128);
        const s = reduce4(q8Row(p, xa), q8Row(p + 32, xa), q8Row(p + 64, xa), q8Row(p + 96, xa));
        const d = f32x4.mul(v128.load(gs + <usize>(b * 16)), f32x4.splat(load<f32>(ad + (b << 2))));
        acc = f32x4.add(acc, f32x4.mul(d, f32x4.convert_i32x4_s(s)));
      }
      storeLanes(out + ((<usize>t * <usize>rows + <usize>(g * 4)) << 2), acc, valid);
    }
  }
}

export function mmQ4_0(wq: usize, ws: usize, cols: i32, rows: i32, g0: i32, g1: i32, act: usize, actStride: i32, nTok: i32, out: usize): void {
  const nb = cols / 32;
  const m4 = i8x16.splat(0x0f);
  for (let g = g0; g < g1; g++) {
    const gq = wq + <usize>g * <usize>nb * 64;
    const gs = ws + <usize>g * <usize>nb * 16;
    const valid = min<i32>(4, rows - g * 4);
    let t = 0;
    // Token pairs share each weight load and nibble unpack (prefill).
    for (; t + 2 <= nTok; t += 2) {
      const a = act + <usize>t * <usize>actStride, b2 = a + <usize>actStride;
      const ad = a + <usize>(3 * cols), bd = b2 + <usize>(3 * cols);
      const as = ad + <usize>(4 * nb), bsum = bd + <usize>(4 * nb);
      let acc0 = f32x4.splat(0), acc1 = f32x4.splat(0);
      for (let b = 0; b < nb; b++) {
        const o = <usize>(b * 32);
        const xl = v128.load(a + o), xh = v128.load(a + o, 16), yl = v128.load(b2 + o), yh = v128.load(b2 + o, 16);
        const p = gq + <usize>(b * 64);
        let w = v128.load(p), lo = v128.and(w, m4), hi = hiNib(w);
        const x0 = dot2I8U7(xl, lo, xh, hi), y0 = dot2I8U7(yl, lo, yh, hi);
        w = v128.load(p, 16); lo = v128.and(w, m4); hi = hiNib(w);
        const hx01 = half2(x0, dot2I8U7(xl, lo, xh, hi)), hy01 = half2(y0, dot2I8U7(yl, lo, yh, hi));
        w = v128.load(p, 32); lo = v128.and(w, m4); hi = hiNib(w);
        const x2 = dot2I8U7(xl, lo, xh, hi), y2 = dot2I8U7(yl, lo, yh, hi);
        w = v128.load(p, 48); lo = v128.and(w, m4); hi = hiNib(w);
        const hx23 = half2(x2, dot2I8U7(xl, lo, xh, hi)), hy23 = half2(y2, dot2I8U7(yl, lo, yh, hi));
        const sc = v128.load(gs + <usize>(b * 16));
        const tx = i32x4.sub(join2(hx01, hx23), i32x4.splat(load<i32>(as + (b << 2)) << 3));
        const ty = i32x4.sub(join2(hy01, hy23), i32x4.splat(load<i32>(bsum + (b << 2)) << 3));
        acc0 = f32x4.add(acc0, f32x4.mul(f32x4.mul(sc, f32x4.splat(load<f32>(ad + (b << 2)))), f32x4.convert_i32x4_s(tx)));
        acc1 = f32x4.add(acc1, f32x4.mul(f32x4.mul(sc, f32x4.splat(load<f32>(bd + (b << 2)))), f32x4.convert_i32x4_s(ty)));
      }
      storeLanes(out + ((<usize>t * <usize>rows + <usize>(g * 4)) << 2), acc0, valid);
      storeLanes(out + ((<usize>(t + 1) * <usize>rows + <usize>(g * 4)) << 2), acc1, valid);
    }
    for (; t < nTok; t++) {
      const a = act + <usize>t * <usize>actStride;
      const ad = a + <usize>(3 * cols);
      const as = ad + <usize>(4 * nb);
      let acc = f32x4.splat(0);
      for (let b = 0; b < nb; b++) {
        const xl = v128.load(a + <usize>(b * 32)), xh = v128.load(a + <usize>(b * 32), 16);
        const p = gq + <usize>(b * 64);
        let w = v128.load(p);
        const s0 = dot2I8U7(xl, v128.and(w, m4), xh, hiNib(w));
        w = v128.load(p, 16);
        const s1 = dot2I8U7(xl, v128.and(w, m4), xh, hiNib(w));
        w = v128.load(p, 32);
        const s2 = dot2I8U7(xl, v128.and(w, m4), xh, hiNib(w));
        w = v128.load(p, 48);
        const s3 = dot2I8U7(xl, v128.and(w, m4), xh, hiNib(w));
        const tot = i32x4.sub(reduce4(s0, s1, s2, s3), i32x4.splat(load<i32>(as + (b << 2)) << 3));
        const d = f32x4.mul(v128.load(gs + <usize>(b * 16)), f32x4.splat(load<f32>(ad + (b << 2))));
        acc = f32x4.add(acc, f32x4.mul(d, f32x4.convert_i32x4_s(tot)));
      }
      storeLanes(out + ((<usize>t * <usize>rows + <usize>(g * 4)) << 2), acc, valid);
    }
  }
}

// ---- Q4_K × Q8_K. Per row and 256-superblock: d·Σ_sub sc·(q·a) − dmin·Σ_sub m·Σa.
// Meta per (group, superblock), 128 bytes: d f32[4] | dmin f32[4] | sc u16[4][8] | m u8[4][8].
// @ts-ignore: decorator
@inline
function q4kRow(p: usize, sc: usize, x0: v128, x1: v128, x2: v128, x3: v128, acc: v128): v128 {
  const m4 = i8x16.splat(0x0f);
  const w0 = v128.load(p), w1 = v128.load(p, 16);
  const pa = i16x8.add(dotI8U7(x0, v128.and(w0, m4)), dotI8U7(x1, v128.and(w1, m4)));
  const pb = i16x8.add(dotI8U7(x2, hiNib(w0)), dotI8U7(x3, hiNib(w1)));
  acc = i32x4.add(acc, i32x4.dot_i16x8_s(pa, v128.load16_splat(sc)));
  return i32x4.add(acc, i32x4.dot_i16x8_s(pb, v128.load16_splat(sc, 2)));
}

// @ts-ignore: decorator
@inline
function q4kPair(p: usize, sc: usize, xa: usize, ya: usize, accx: v128, accy: v128, which: i32): v128 {
  // One row, one 64-value chunk, two tokens; returns token `which`'s accumulator (both computed,
  // the compiler keeps the shared unpack — callers use it twice with which = 0 and 1).
  const m4 = i8x16.splat(0x0f);
  const w0 = v128.load(p), w1 = v128.load(p, 16);
  const l0 = v128.and(w0, m4), l1 = v128.and(w1, m4), h0 = hiNib(w0), h1 = hiNib(w1);
  const s0 = v128.load16_splat(sc), s1 = v128.load16_splat(sc, 2);
  const a = which == 0 ? xa : ya;
  const acc = which == 0 ? accx : accy;
  const pa = i16x8.add(dotI8U7(v128.load(a), l0), dotI8U7(v128.load(a, 16), l1));
  const pb = i16x8.add(dotI8U7(v128.load(a, 32), h0), dotI8U7(v128.load(a, 48), h1));
  return i32x4.add(i32x4.add(acc, i32x4.dot_i16x8_s(pa, s0)), i32x4.dot_i16x8_s(pb, s1));
}

export function mmQ4_K(wq: usize, ws: usize, cols: i32, rows: i32, g0: i32, g1: i32, act: usize, actStride: i32, nTok: i32, out: usize): void {
  const nsb = cols / 256;
  for (let g = g0; g < g1; g++) {
    const gq = wq + <usize>g * <usize>nsb * 512;
    const gm = ws + <usize>g * <usize>nsb * 128;
    const valid = min<i32>(4, rows - g * 4);
    let t = 0;
    for (; t + 2 <= nTok; t += 2) {
      const a = act + <usize>t * <usize>actStride, b2 = a + <usize>actStride;
      const ad = a + <usize>(3 * cols), bd = b2 + <usize>(3 * cols);
      const bs = ad + <usize>(4 * nsb), bs2 = bd + <usize>(4 * nsb);
      let acc0 = f32x4.splat(0), acc1 = f32x4.splat(0);
      for (let s = 0; s < nsb; s++) {
        const p = gq + <usize>(s * 512);
        const m = gm + <usize>(s * 128);
        const xs = a + <usize>(s * 256), ys = b2 + <usize>(s * 256);
        let x0 = ZERO, x1 = ZERO, x2 = ZERO, x3 = ZERO, y0 = ZERO, y1 = ZERO, y2 = ZERO, y3 = ZERO;
        for (let j = 0; j < 4; j++) {
          const xa = xs + <usize>(j * 64), ya = ys + <usize>(j * 64);
          const pj = p + <usize>(j * 32);
          const sj = m + 32 + <usize>(j * 4);
          x0 = q4kPair(pj, sj, xa, ya, x0, y0, 0); y0 = q4kPair(pj, sj, xa, ya, x0, y0, 1);
          x1 = q4kPair(pj + 128, sj + 16, xa, ya, x1, y1, 0); y1 = q4kPair(pj + 128, sj + 16, xa, ya, x1, y1, 1);
          x2 = q4kPair(pj + 256, sj + 32, xa, ya, x2, y2, 0); y2 = q4kPair(pj + 256, sj + 32, xa, ya, x2, y2, 1);
          x3 = q4kPair(pj + 384, sj + 48, xa, ya, x3, y3, 0); y3 = q4kPair(pj + 384, sj + 48, xa, ya, x3, y3, 1);
        }
        const mm = m + 96;
        const n0 = i16x8.extend_low_i8x16_u(v128.load64_zero(mm)), n1 = i16x8.extend_low_i8x16_u(v128.load64_zero(mm, 8));
        const n2 = i16x8.extend_low_i8x16_u(v128.load64_zero(mm, 16)), n3 = i16x8.extend_low_i8x16_u(v128.load64_zero(mm, 24));
        const dv = v128.load(m), dm = v128.load(m, 16);
        for (let k = 0; k < 2; k++) {
          const b16 = (k == 0 ? bs : bs2) + <usize>(s * 32);
          const bs32 = i16x8.narrow_i32x4_s(
            i32x4.extadd_pairwise_i16x8_s(v128.load(b16)), i32x4.extadd_pairwise_i16x8_s(v128.load(b16, 16)));
          const summ = f32x4.convert_i32x4_s(reduce4(i32x4.dot_i16x8_s(n0, bs32), i32x4.dot_i16x8_s(n1, bs32), i32x4.dot_i16x8_s(n2, bs32), i32x4.dot_i16x8_s(n3, bs32)));
          const dy = f32x4.splat(load<f32>((k == 0 ? ad : bd) + (s << 2)));
          const sumi = f32x4.convert_i32x4_s(k == 0 ? reduce4(x0, x1, x2, x3) : reduce4(y0, y1, y2, y3));
          const v = f32x4.sub(f32x4.mul(f32x4.mul(dv, dy), sumi), f32x4.mul(f32x4.mul(dm, dy), summ));
          if (k == 0) acc0 = f32x4.add(acc0, v); else acc1 = f32x4.add(acc1, v);
        }
      }
      storeLanes(out + ((<usize>t * <usize>rows + <usize>(g * 4)) << 2), acc0, valid);
      storeLanes(out + ((<usize>(t + 1) * <usize>rows + <usize>(g * 4)) << 2), acc1, valid);
    }
    for (; t < nTok; t++) {
      const a = act + <usize>t * <usize>actStride;
      const ad = a + <usize>(3 * cols);
      const bs = ad + <usize>(4 * nsb);
      let acc = f32x4.splat(0);
      for (let s = 0; s < nsb; s++) {
        const p = gq + <usize>(s * 512);
        const m = gm + <usize>(s * 128);
        const xs = a + <usize>(s * 256);
        let r0 = ZERO, r1 = ZERO, r2 = ZERO, r3 = ZERO;
        for (let j = 0; j < 4; j++) {
          const xa = xs + <usize>(j * 64);
          const x0 = v128.load(xa), x1 = v128.load(xa, 16), x2 = v128.load(xa, 32), x3 = v128.load(xa, 48);
          const pj = p + <usize>(j * 32);
          const sj = m + 32 + <usize>(j * 4);
          r0 = q4kRow(pj, sj, x0, x1, x2, x3, r0);
          r1 = q4kRow(pj + 128, sj + 16, x0, x1, x2, x3, r1);
          r2 = q4kRow(pj + 256, sj + 32, x0, x1, x2, x3, r2);
          r3 = q4kRow(pj + 384, sj + 48, x0, x1, x2, x3, r3);
        }
        // Sums of 32 activations per sub-block, from the 16-wide sums.
        const b16 = bs + <usize>(s * 32);
        const bs32 = i16x8.narrow_i32x4_s(
          i32x4.extadd_pairwise_i16x8_s(v128.load(b16)), i32x4.extadd_pairwise_i16x8_s(v128.load(b16, 16)));
        const mm = m + 96;
        const m0 = i32x4.dot_i16x8_s(i16x8.extend_low_i8x16_u(v128.load64_zero(mm)), bs32);
        const m1 = i32x4.dot_i16x8_s(i16x8.extend_low_i8x16_u(v128.load64_zero(mm, 8)), bs32);
        const m2 = i32x4.dot_i16x8_s(i16x8.extend_low_i8x16_u(v128.load64_zero(mm, 16)), bs32);
        const m3 = i32x4.dot_i16x8_s(i16x8.extend_low_i8x16_u(v128.load64_zero(mm, 24)), bs32);
        const dy = f32x4.splat(load<f32>(ad + (s << 2)));
        const sumi = f32x4.convert_i32x4_s(reduce4(r0, r1, r2, r3));
        const summ = f32x4.convert_i32x4_s(reduce4(m0, m1, m2, m3));
        acc = f32x4.add(acc, f32x4.mul(f32x4.mul(v128.load(m), dy), sumi));
        acc = f32x4.sub(acc, f32x4.mul(f32x4.mul(v128.load(m, 16), dy), summ));
      }
      storeLanes(out + ((<usize>t * <usize>rows + <usize>(g * 4)) << 2), acc, valid);
    }
  }
}

// ---- Q6_K × Q8_K. Quants (0..63) against activations, minus 32·Σ sc·bsum16.
// Quants per row-superblock: ql[128] | qh[64] (GGUF bit order). Meta, 144 bytes: d f32[4] | sc i16[4][16]
// (i16 so that a scale splat is one load16_splat).
// @ts-ignore: decorator
@inline
function q6kPart(ql: usize, qh: usize, sc: usize, x: usize, acc: v128): v128 {
  const m4 = i8x16.splat(0x0f), m30 = i8x16.splat(0x30);
  const l0 = v128.load(ql), l1 = v128.load(ql, 32), h = v128.load(qh);
  const q1 = v128.or(v128.and(l0, m4), v128.and(i16x8.shl(h, 4), m30));
  const q2 = v128.or(v128.and(l1, m4), v128.and(i16x8.shl(h, 2), m30));
  const q3 = v128.or(hiNib(l0), v128.and(h, m30));
  const q4 = v128.or(hiNib(l1), v128.and(i16x8.shr_u(h, 2), m30));
  acc = i32x4.add(acc, i32x4.dot_i16x8_s(dotI8U7(v128.load(x), q1), v128.load16_splat(sc)));
  acc = i32x4.add(acc, i32x4.dot_i16x8_s(dotI8U7(v128.load(x, 32), q2), v128.load16_splat(sc, 4)));
  acc = i32x4.add(acc, i32x4.dot_i16x8_s(dotI8U7(v128.load(x, 64), q3), v128.load16_splat(sc, 8)));
  return i32x4.add(acc, i32x4.dot_i16x8_s(dotI8U7(v128.load(x, 96), q4), v128.load16_splat(sc, 12)));
}

// @ts-ignore: decorator
@inline
function q6kBias(sc: usize, b0: v128, b1: v128): v128 {
  const s = v128.load(sc);
  return i32x4.add(i32x4.dot_i16x8_s(i16x8.extend_low_i8x16_s(s), b0), i32x4.dot_i16x8_s(i16x8.extend_high_i8x16_s(s), b1));
}

// @ts-ignore: decorator
@inline
function q6kBias16(sc: usize, b0: v128, b1: v128): v128 {
  return i32x4.add(i32x4.dot_i16x8_s(v128.load(sc), b0), i32x4.dot_i16x8_s(v128.load(sc, 16), b1));
}

// @ts-ignore: decorator
@inline
function q6kPair(ql: usize, qh: usize, sc: usize, xa: usize, ya: usize, accx: v128, accy: v128, which: i32): v128 {
  // q6kPart for one of two tokens; the unpack is identical for both, so it is shared after CSE.
  const m4 = i8x16.splat(0x0f), m30 = i8x16.splat(0x30);
  const l0 = v128.load(ql), l1 = v128.load(ql, 32), h = v128.load(qh);
  const q1 = v128.or(v128.and(l0, m4), v128.and(i16x8.shl(h, 4), m30));
  const q2 = v128.or(v128.and(l1, m4), v128.and(i16x8.shl(h, 2), m30));
  const q3 = v128.or(hiNib(l0), v128.and(h, m30));
  const q4 = v128.or(hiNib(l1), v128.and(i16x8.shr_u(h, 2), m30));
  const x = which == 0 ? xa : ya;
  let acc = which == 0 ? accx : accy;
  acc = i32x4.add(acc, i32x4.dot_i16x8_s(dotI8U7(v128.load(x), q1), v128.load16_splat(sc)));
  acc = i32x4.add(acc, i32x4.dot_i16x8_s(dotI8U7(v128.load(x, 32), q2), v128.load16_splat(sc, 4)));
  acc = i32x4.add(acc, i32x4.dot_i16x8_s(dotI8U7(v128.load(x, 64), q3), v128.load16_splat(sc, 8)));
  return i32x4.add(acc, i32x4.dot_i16x8_s(dotI8U7(v128.load(x, 96), q4), v128.load16_splat(sc, 12)));
}

export function mmQ6_K(wq: usize, ws: usize, cols: i32, rows: i32, g0: i32, g1: i32, act: usize, actStride: i32, nTok: i32, out: usize): void {
  const nsb = cols / 256;
  for (let g = g0; g < g1; g++) {
    const gq = wq + <usize>g * <usize>nsb * 768;
    const gm = ws + <usize>g * <usize>nsb * 144;
    const valid = min<i32>(4, rows - g * 4);
    let t = 0;
    for (; t + 2 <= nTok; t += 2) {
      const a = act + <usize>t * <usize>actStride, b2 = a + <usize>actStride;
      const ad = a + <usize>(3 * cols), bd = b2 + <usize>(3 * cols);
      const bs = ad + <usize>(4 * nsb), bs2 = bd + <usize>(4 * nsb);
      let acc0 = f32x4.splat(0), acc1 = f32x4.splat(0);
      for (let s = 0; s < nsb; s++) {
        const p = gq + <usize>(s * 768);
        const m = gm + <usize>(s * 144);
        const xs = a + <usize>(s * 256), ys = b2 + <usize>(s * 256);
        const bx = bs + <usize>(s * 32), by = bs2 + <usize>(s * 32);
        const bx0 = v128.load(bx), bx1 = v128.load(bx, 16), by0 = v128.load(by), by1 = v128.load(by, 16);
        const k32 = i32x4.splat(-32);
        let x0 = i32x4.mul(q6kBias16(m + 16, bx0, bx1), k32), y0 = i32x4.mul(q6kBias16(m + 16, by0, by1), k32);
        let x1 = i32x4.mul(q6kBias16(m + 48, bx0, bx1), k32), y1 = i32x4.mul(q6kBias16(m + 48, by0, by1), k32);
        let x2 = i32x4.mul(q6kBias16(m + 80, bx0, bx1), k32), y2 = i32x4.mul(q6kBias16(m + 80, by0, by1), k32);
        let x3 = i32x4.mul(q6kBias16(m + 112, bx0, bx1), k32), y3 = i32x4.mul(q6kBias16(m + 112, by0, by1), k32);
        for (let n = 0; n < 2; n++) {
          for (let l = 0; l < 32; l += 16) {
            const ql = p + <usize>(n * 64 + l), qh = p + 128 + <usize>(n * 32 + l);
            const xa = xs + <usize>(n * 128 + l), ya = ys + <usize>(n * 128 + l);
            const sc = m + 16 + <usize>((n * 8 + l / 16) * 2);
            x0 = q6kPair(ql, qh, sc, xa, ya, x0, y0, 0); y0 = q6kPair(ql, qh, sc, xa, ya, x0, y0, 1);
            x1 = q6kPair(ql + 192, qh + 192, sc + 32, xa, ya, x1, y1, 0); y1 = q6kPair(ql + 192, qh + 192, sc + 32, xa, ya, x1, y1, 1);
            x2 = q6kPair(ql + 384, qh + 384, sc + 64, xa, ya, x2, y2, 0); y2 = q6kPair(ql + 384, qh + 384, sc + 64, xa, ya, x2, y2, 1);
            x3 = q6kPair(ql + 576, qh + 576, sc + 96, xa, ya, x3, y3, 0); y3 = q6kPair(ql + 576, qh + 576, sc + 96, xa, ya, x3, y3, 1);
          }
        }
        const dv = v128.load(m);
        acc0 = f32x4.add(acc0, f32x4.mul(f32x4.mul(dv, f32x4.splat(load<f32>(ad + (s << 2)))), f32x4.convert_i32x4_s(reduce4(x0, x1, x2, x3))));
        acc1 = f32x4.add(acc1, f32x4.mul(f32x4.mul(dv, f32x4.splat(load<f32>(bd + (s << 2)))), f32x4.convert_i32x4_s(reduce4(y0, y1, y2, y3))));
      }
      storeLanes(out + ((<usize>t * <usize>rows + <usize>(g * 4)) << 2), acc0, valid);
      storeLanes(out + ((<usize>(t + 1) * <usize>rows + <usize>(g * 4)) << 2), acc1, valid);
    }
    for (; t < nTok; t++) {
      const a = act + <usize>t * <usize>actStride;
      const ad = a + <usize>(3 * cols);
      const bs = ad + <usize>(4 * nsb);
      let acc = f32x4.splat(0);
      for (let s = 0; s < nsb; s++) {
        const p = gq + <usize>(s * 768);
        const m = gm + <usize>(s * 144);
        const xs = a + <usize>(s * 256);
        const b16 = bs + <usize>(s * 32);
        const b0 = v128.load(b16), b1 = v128.load(b16, 16);
        let r0 = i32x4.mul(q6kBias16(m + 16, b0, b1), i32x4.splat(-32));
        let r1 = i32x4.mul(q6kBias16(m + 48, b0, b1), i32x4.splat(-32));
        let r2 = i32x4.mul(q6kBias16(m + 80, b0, b1), i32x4.splat(-32));
        let r3 = i32x4.mul(q6kBias16(m + 112, b0, b1), i32x4.splat(-32));
        for (let n = 0; n < 2; n++) {
          for (let l = 0; l < 32; l += 16) {
            const ql = p + <usize>(n * 64 + l), qh = p + 128 + <usize>(n * 32 + l);
            const x = xs + <usize>(n * 128 + l);
            const sc = m + 16 + <usize>((n * 8 + l / 16) * 2);
            r0 = q6kPart(ql, qh, sc, x, r0);
            r1 = q6kPart(ql + 192, qh + 192, sc + 32, x, r1);
            r2 = q6kPart(ql + 384, qh + 384, sc + 64, x, r2);
            r3 = q6kPart(ql + 576, qh + 576, sc + 96, x, r3);
          }
        }
        const d = f32x4.mul(v128.load(m), f32x4.splat(load<f32>(ad + (s << 2))));
        acc = f32x4.add(acc, f32x4.mul(d, f32x4.convert_i32x4_s(reduce4(r0, r1, r2, r3))));
      }
      storeLanes(out + ((<usize>t * <usize>rows + <usize>(g * 4)) << 2), acc, valid);
    }
  }
}

// ---- F32 / F16 / BF16 weights, plain row-major, 4 rows at a time; activations are f32 already
// rounded to the weight's dot type. `r0..r1` are rows here, not groups.
// @ts-ignore: decorator
@inline
function fma(a: v128, b: v128, c: v128): v128 {
  if (ASC_FEATURE_RELAXED_SIMD) return f32x4.relaxed_madd(a, b, c);
  return f32x4.add(f32x4.mul(a, b), c);
}

// @ts-ignore: decorator
@inline
function loadW(kind: i32, p: usize, i: i32): v128 {
  if (kind == 0) return v128.load(p + (<usize>i << 2));
  if (kind == 2) return i32x4.shl(i32x4.extend_low_i16x8_u(v128.load64_zero(p + (<usize>i << 1))), 16);
  // f16 → f32: magnitude shifted into place and scaled by 2^112 (exact for subnormals), sign or-ed back.
  const h = i32x4.extend_low_i16x8_u(v128.load64_zero(p + (<usize>i << 1)));
  const mag = f32x4.mul(i32x4.shl(v128.and(h, i32x4.splat(0x7fff)), 13), f32x4.splat(reinterpret<f32>(0x77800000)));
  return v128.or(mag, i32x4.shl(v128.and(h, i32x4.splat(0x8000)), 16));
}

// @ts-ignore: decorator
@inline
function loadS(kind: i32, p: usize, i: i32): f32 {
  if (kind == 0) return load<f32>(p + (<usize>i << 2));
  if (kind == 2) return reinterpret<f32>(<u32>load<u16>(p + (<usize>i << 1)) << 16);
  return f16ToF32(load<u16>(p + (<usize>i << 1)));
}

// @ts-ignore: decorator
@inline
function mmFloat(kind: i32, w: usize, cols: i32, rows: i32, r0: i32, r1: i32, act: usize, actStride: i32, nTok: i32, out: usize): void {
  const esz: usize = kind == 0 ? 4 : 2;
  const rb = <usize>cols * esz;
  const c4 = cols & ~3;
  for (let r = r0; r < r1; r += 4) {
    const valid = min<i32>(4, r1 - r);
    const p0 = w + <usize>r * rb;
    const p1 = valid > 1 ? p0 + rb : p0;
    const p2 = valid > 2 ? p0 + 2 * rb : p0;
    const p3 = valid > 3 ? p0 + 3 * rb : p0;
    for (let t = 0; t < nTok; t++) {
      const a = act + <usize>t * <usize>actStride;
      let s0 = f32x4.splat(0), s1 = s0, s2 = s0, s3 = s0;
      for (let c = 0; c < c4; c += 4) {
        const x = v128.load(a + (<usize>c << 2));
        s0 = fma(loadW(kind, p0, c), x, s0);
        s1 = fma(loadW(kind, p1, c), x, s1);
        s2 = fma(loadW(kind, p2, c), x, s2);
        s3 = fma(loadW(kind, p3, c), x, s3);
      }
      let v = reduce4f(s0, s1, s2, s3);
      if (c4 < cols) {
        let e0: f32 = 0, e1: f32 = 0, e2: f32 = 0, e3: f32 = 0;
        for (let c = c4; c < cols; c++) {
          const x = load<f32>(a + (<usize>c << 2));
          e0 += loadS(kind, p0, c) * x; e1 += loadS(kind, p1, c) * x;
          e2 += loadS(kind, p2, c) * x; e3 += loadS(kind, p3, c) * x;
        }
        v = f32x4.add(v, f32x4.replace_lane(f32x4.replace_lane(f32x4.replace_lane(f32x4.splat(e0), 1, e1), 2, e2), 3, e3));
      }
      storeLanes(out + ((<usize>t * <usize>rows + <usize>r) << 2), v, valid);
    }
  }
}

export function mmF32(w: usize, cols: i32, rows: i32, r0: i32, r1: i32, act: usize, actStride: i32, nTok: i32, out: usize): void {
  mmFloat(0, w, cols, rows, r0, r1, act, actStride, nTok, out);
}
export function mmF16(w: usize, cols: i32, rows: i32, r0: i32, r1: i32, act: usize, actStride: i32, nTok: i32, out: usize): void {
  mmFloat(1, w, cols, rows, r0, r1, act, actStride, nTok, out);
}
export function mmBF16(w: usize, cols: i32, rows: i32, r0: i32, r1: i32, act: usize, actStride: i32, nTok: i32, out: usize): void {
  mmFloat(2, w, cols, rows, r0, r1, act, actStride, nTok, out);
}

// ---- Q5_K × Q8_K: Q4_K plus a fifth bit per value from qh (bit 2j / 2j+1 for chunk j).
// Quants per row-superblock: qs[128] | qh[32] (160 bytes). Meta as Q4_K (128 bytes).
// @ts-ignore: decorator
@inline
function q5kRow(p: usize, qh: usize, j: i32, sc: usize, x0: v128, x1: v128, x2: v128, x3: v128, acc: v128): v128 {
  const m4 = i8x16.splat(0x0f), b4 = i8x16.splat(0x10);
  const w0 = v128.load(p), w1 = v128.load(p, 16);
  const h0 = v128.load(qh), h1 = v128.load(qh, 16);
  const s0 = 2 * j;
  const lo0 = v128.or(v128.and(w0, m4), v128.and(i16x8.shl(i16x8.shr_u(h0, s0), 4), b4));
  const lo1 = v128.or(v128.and(w1, m4), v128.and(i16x8.shl(i16x8.shr_u(h1, s0), 4), b4));
  const hi0 = v128.or(hiNib(w0), v128.and(i16x8.shl(i16x8.shr_u(h0, s0 + 1), 4), b4));
  const hi1 = v128.or(hiNib(w1), v128.and(i16x8.shl(i16x8.shr_u(h1, s0 + 1), 4), b4));
  const pa = i16x8.add(dotI8U7(x0, lo0), dotI8U7(x1, lo1));
  const pb = i16x8.add(dotI8U7(x2, hi0), dotI8U7(x3, hi1));
  acc = i32x4.add(acc, i32x4.dot_i16x8_s(pa, v128.load16_splat(sc)));
  return i32x4.add(acc, i32x4.dot_i16x8_s(pb, v128.load16_splat(sc, 2)));
}

export function mmQ5_K(wq: usize, ws: usize, cols: i32, rows: i32, g0: i32, g1: i32, act: usize, actStride: i32, nTok: i32, out: usize): void {
  const nsb = cols / 256;
  for (let g = g0; g < g1; g++) {
    const gq = wq + <usize>g * <usize>nsb * 640;
    const gm = ws + <usize>g * <usize>nsb * 128;
    const valid = min<i32>(4, rows - g * 4);
    for (let t = 0; t < nTok; t++) {
      const a = act + <usize>t * <usize>actStride;
      const ad = a + <usize>(3 * cols);
      const bs = ad + <usize>(4 * nsb);
      let acc = f32x4.splat(0);
      for (let s = 0; s < nsb; s++) {
        const p = gq + <usize>(s * 640);
        const m = gm + <usize>(s * 128);
        const xs = a + <usize>(s * 256);
        let r0 = ZERO, r1 = ZERO, r2 = ZERO, r3 = ZERO;
        for (let j = 0; j < 4; j++) {
          const xa = xs + <usize>(j * 64);
          const x0 = v128.load(xa), x1 = v128.load(xa, 16), x2 = v128.load(xa, 32), x3 = v128.load(xa, 48);
          const pj = p + <usize>(j * 32);
          const sj = m + 32 + <usize>(j * 4);
          r0 = q5kRow(pj, p + 128, j, sj, x0, x1, x2, x3, r0);
          r1 = q5kRow(pj + 160, p + 288, j, sj + 16, x0, x1, x2, x3, r1);
          r2 = q5kRow(pj + 320, p + 448, j, sj + 32, x0, x1, x2, x3, r2);
          r3 = q5kRow(pj + 480, p + 608, j, sj + 48, x0, x1, x2, x3, r3);
        }
        const b16 = bs + <usize>(s * 32);
        const bs32 = i16x8.narrow_i32x4_s(
          i32x4.extadd_pairwise_i16x8_s(v128.load(b16)), i32x4.extadd_pairwise_i16x8_s(v128.load(b16, 16)));
        const mm = m + 96;
        const m0 = i32x4.dot_i16x8_s(i16x8.extend_low_i8x16_u(v128.load64_zero(mm)), bs32);
        const m1 = i32x4.dot_i16x8_s(i16x8.extend_low_i8x16_u(v128.load64_zero(mm, 8)), bs32);
        const m2 = i32x4.dot_i16x8_s(i16x8.extend_low_i8x16_u(v128.load64_zero(mm, 16)), bs32);
        const m3 = i32x4.dot_i16x8_s(i16x8.extend_low_i8x16_u(v128.load64_zero(mm, 24)), bs32);
        const dy = f32x4.splat(load<f32>(ad + (s << 2)));
        const sumi = f32x4.convert_i32x4_s(reduce4(r0, r1, r2, r3));
        const summ = f32x4.convert_i32x4_s(reduce4(m0, m1, m2, m3));
        acc = f32x4.add(acc, f32x4.mul(f32x4.mul(v128.load(m), dy), sumi));
        acc = f32x4.sub(acc, f32x4.mul(f32x4.mul(v128.load(m, 16), dy), summ));
      }
      storeLanes(out + ((<usize>t * <usize>rows + <usize>(g * 4)) << 2), acc, valid);
    }
  }
}

// ---- Q4_1 / Q5_0 / Q5_1 × Q8_0-area activations (Q8_1's s for the minimum types).
// Quants per (group, block): nibbles [4][16] | qh u32[4] for Q5 types (80 bytes), 64 for Q4_1.
// Scales: d f32[4] (Q5_0) or d f32[4] | m f32[4] (Q4_1, Q5_1).
const F_Q4_1 = 1, F_Q5_0 = 2, F_Q5_1 = 3;

// @ts-ignore: decorator
@inline
function highBits(h: u32, hi: bool): v128 {
  // Byte j of the result is 0x10 when bit (j + 16·hi) of h is set.
  const v = i32x4.splat(<i32>h);
  const idx = hi ? i8x16(2, 2, 2, 2, 2, 2, 2, 2, 3, 3, 3, 3, 3, 3, 3, 3) : i8x16(0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1);
  const mask = i8x16(1, 2, 4, 8, 16, 32, 64, -128, 1, 2, 4, 8, 16, 32, 64, -128);
  const b = i8x16.swizzle(v, idx);
  return v128.and(i8x16.eq(v128.and(b, mask), mask), i8x16.splat(0x10));
}

// @ts-ignore: decorator
@inline
function row32(fam: i32, q: usize, qh: usize, xl: v128, xh: v128): v128 {
  const m4 = i8x16.splat(0x0f);
  const w = v128.load(q);
  let lo = v128.and(w, m4), hi = hiNib(w);
  if (fam != F_Q4_1) {
    const h = load<u32>(qh);
    lo = v128.or(lo, highBits(h, false));
    hi = v128.or(hi, highBits(h, true));
  }
  return dot2I8U7(xl, lo, xh, hi);
}

// @ts-ignore: decorator
@inline
function mm32(fam: i32, wq: usize, ws: usize, cols: i32, rows: i32, g0: i32, g1: i32, act: usize, actStride: i32, nTok: i32, out: usize): void {
  const nb = cols / 32;
  const qb: usize = fam == F_Q4_1 ? 64 : 80;
  const sb: usize = fam == F_Q5_0 ? 16 : 32;
  for (let g = g0; g < g1; g++) {
    const gq = wq + <usize>g * <usize>nb * qb;
    const gs = ws + <usize>g * <usize>nb * sb;
    const valid = min<i32>(4, rows - g * 4);
    for (let t = 0; t < nTok; t++) {
      const a = act + <usize>t * <usize>actStride;
      const ad = a + <usize>(3 * cols);
      const as = ad + <usize>(4 * nb);
      const a1 = as + <usize>(4 * nb);
      let acc = f32x4.splat(0);
      for (let b = 0; b < nb; b++) {
        const xl = v128.load(a + <usize>(b * 32)), xh = v128.load(a + <usize>(b * 32), 16);
        const p = gq + <usize>b * qb;
        const s0 = row32(fam, p, p + 64, xl, xh);
        const s1 = row32(fam, p + 16, p + 68, xl, xh);
        const s2 = row32(fam, p + 32, p + 72, xl, xh);
        const s3 = row32(fam, p + 48, p + 76, xl, xh);
        let tot = reduce4(s0, s1, s2, s3);
        if (fam == F_Q5_0) tot = i32x4.sub(tot, i32x4.splat(load<i32>(as + (b << 2)) << 4));
        const sp = gs + <usize>b * sb;
        const d = f32x4.mul(v128.load(sp), f32x4.splat(load<f32>(ad + (b << 2))));
        acc = f32x4.add(acc, f32x4.mul(d, f32x4.convert_i32x4_s(tot)));
        if (fam != F_Q5_0) acc = f32x4.add(acc, f32x4.mul(v128.load(sp, 16), f32x4.splat(load<f32>(a1 + (b << 2)))));
      }
      storeLanes(out + ((<usize>t * <usize>rows + <usize>(g * 4)) << 2), acc, valid);
    }
  }
}

export function mmQ4_1(wq: usize, ws: usize, cols: i32, rows: i32, g0: i32, g1: i32, act: usize, actStride: i32, nTok: i32, out: usize): void {
  mm32(F_Q4_1, wq, ws, cols, rows, g0, g1, act, actStride, nTok, out);
}
export function mmQ5_0(wq: usize, ws: usize, cols: i32, rows: i32, g0: i32, g1: i32, act: usize, actStride: i32, nTok: i32, out: usize): void {
  mm32(F_Q5_0, wq, ws, cols, rows, g0, g1, act, actStride, nTok, out);
}
export function mmQ5_1(wq: usize, ws: usize, cols: i32, rows: i32, g0: i32, g1: i32, act: usize, actStride: i32, nTok: i32, out: usize): void {
  mm32(F_Q5_1, wq, ws, cols, rows, g0, g1, act, actStride, nTok, out);
}

// ---- IQ4_NL (Q8_0 activations) and IQ4_XS (Q8_K): nibbles index a signed table (swizzle), so
// the products run on i16 against the widened activations.
// @ts-ignore: decorator
@inline
function iq4Table(): v128 {
  return i8x16(-127, -104, -83, -65, -49, -35, -22, -10, 1, 13, 25, 38, 53, 69, 89, 113);
}

// @ts-ignore: decorator
@inline
function iq4Row(q: usize, x0: v128, x1: v128, x2: v128, x3: v128): v128 {
  const tab = iq4Table(), m4 = i8x16.splat(0x0f);
  const w = v128.load(q);
  const lo = i8x16.swizzle(tab, v128.and(w, m4)), hi = i8x16.swizzle(tab, hiNib(w));
  return i32x4.add(
    i32x4.add(i32x4.dot_i16x8_s(i16x8.extend_low_i8x16_s(lo), x0), i32x4.dot_i16x8_s(i16x8.extend_high_i8x16_s(lo), x1)),
    i32x4.add(i32x4.dot_i16x8_s(i16x8.extend_low_i8x16_s(hi), x2), i32x4.dot_i16x8_s(i16x8.extend_high_i8x16_s(hi), x3)));
}

/** IQ4_NL: quants [4][16] per (group, block), d f32[4]. */
export function mmIQ4_NL(wq: usize, ws: usize, cols: i32, rows: i32, g0: i32, g1: i32, act: usize, actStride: i32, nTok: i32, out: usize): void {
  const nb = cols / 32;
  for (let g = g0; g < g1; g++) {
    const gq = wq + <usize>g * <usize>nb * 64;
    const gs = ws + <usize>g * <usize>nb * 16;
    const valid = min<i32>(4, rows - g * 4);
    for (let t = 0; t < nTok; t++) {
      const a = act + <usize>t * <usize>actStride;
      const a16 = a + <usize>cols;
      const ad = a + <usize>(3 * cols);
      let acc = f32x4.splat(0);
      for (let b = 0; b < nb; b++) {
        const xa = a16 + <usize>(b * 64);
        const x0 = v128.load(xa), x1 = v128.load(xa, 16), x2 = v128.load(xa, 32), x3 = v128.load(xa, 48);
        const p = gq + <usize>(b * 64);
        const tot = reduce4(iq4Row(p, x0, x1, x2, x3), iq4Row(p + 16, x0, x1, x2, x3), iq4Row(p + 32, x0, x1, x2, x3), iq4Row(p + 48, x0, x1, x2, x3));
        const d = f32x4.mul(v128.load(gs + <usize>(b * 16)), f32x4.splat(load<f32>(ad + (b << 2))));
        acc = f32x4.add(acc, f32x4.mul(d, f32x4.convert_i32x4_s(tot)));
      }
      storeLanes(out + ((<usize>t * <usize>rows + <usize>(g * 4)) << 2), acc, valid);
    }
  }
}

/** IQ4_XS: quants [4][128] per (group, superblock); meta 48 bytes: d f32[4] | (ls − 32) i8[4][8]. */
export function mmIQ4_XS(wq: usize, ws: usize, cols: i32, rows: i32, g0: i32, g1: i32, act: usize, actStride: i32, nTok: i32, out: usize): void {
  const nsb = cols / 256;
  for (let g = g0; g < g1; g++) {
    const gq = wq + <usize>g * <usize>nsb * 512;
    const gm = ws + <usize>g * <usize>nsb * 48;
    const valid = min<i32>(4, rows - g * 4);
    for (let t = 0; t < nTok; t++) {
      const a = act + <usize>t * <usize>actStride;
      const a16 = a + <usize>cols;
      const ad = a + <usize>(3 * cols);
      let acc = f32x4.splat(0);
      for (let s = 0; s < nsb; s++) {
        const p = gq + <usize>(s * 512);
        const m = gm + <usize>(s * 48);
        let r0 = ZERO, r1 = ZERO, r2 = ZERO, r3 = ZERO;
        for (let ib = 0; ib < 8; ib++) {
          const xa = a16 + <usize>((s * 256 + ib * 32) * 2);
          const x0 = v128.load(xa), x1 = v128.load(xa, 16), x2 = v128.load(xa, 32), x3 = v128.load(xa, 48);
          const pq = p + <usize>(ib * 16);
          const ls = m + 16 + <usize>ib;
          r0 = i32x4.add(r0, i32x4.mul(iq4Row(pq, x0, x1, x2, x3), i32x4.splat(<i32>load<i8>(ls))));
          r1 = i32x4.add(r1, i32x4.mul(iq4Row(pq + 128, x0, x1, x2, x3), i32x4.splat(<i32>load<i8>(ls, 8))));
          r2 = i32x4.add(r2, i32x4.mul(iq4Row(pq + 256, x0, x1, x2, x3), i32x4.splat(<i32>load<i8>(ls, 16))));
          r3 = i32x4.add(r3, i32x4.mul(iq4Row(pq + 384, x0, x1, x2, x3), i32x4.splat(<i32>load<i8>(ls, 24))));
        }
        const d = f32x4.mul(v128.load(m), f32x4.splat(load<f32>(ad + (s << 2))));
        acc = f32x4.add(acc, f32x4.mul(d, f32x4.convert_i32x4_s(reduce4(r0, r1, r2, r3))));
      }
      storeLanes(out + ((<usize>t * <usize>rows + <usize>(g * 4)) << 2), acc, valid);
    }
  }
}

// ---- Q2_K × Q8_K: 2-bit quants (0..3) per 16-value sub-block with a 4-bit scale and min.
// Quants per row-superblock: qs[64] (GGUF order). Meta, 96 bytes: d f32[4] | dmin f32[4] | scales u8[4][16] (sc | m << 4).
// @ts-ignore: decorator
@inline
function q2kRow(q: usize, sc: usize, xs: usize, acc: v128): v128 {
  const m3 = i8x16.splat(3);
  for (let n = 0; n < 2; n++) {
    const w0 = v128.load(q + <usize>(n * 32)), w1 = v128.load(q + <usize>(n * 32), 16);
    for (let j = 0; j < 4; j++) {
      const x = xs + <usize>(n * 128 + j * 32);
      const s = sc + <usize>(n * 8 + j * 2);
      const q0 = v128.and(i16x8.shr_u(w0, 2 * j), m3), q1 = v128.and(i16x8.shr_u(w1, 2 * j), m3);
      acc = i32x4.add(acc, i32x4.dot_i16x8_s(dotI8U7(v128.load(x), q0), i16x8.splat(<i16>(load<u8>(s) & 15))));
      acc = i32x4.add(acc, i32x4.dot_i16x8_s(dotI8U7(v128.load(x, 16), q1), i16x8.splat(<i16>(load<u8>(s, 1) & 15))));
    }
  }
  return acc;
}

// @ts-ignore: decorator
@inline
function q2kMins(sc: usize, b0: v128, b1: v128): v128 {
  const s = v128.load(sc);
  const lo = i16x8.shr_u(i16x8.extend_low_i8x16_u(s), 4), hi = i16x8.shr_u(i16x8.extend_high_i8x16_u(s), 4);
  return i32x4.add(i32x4.dot_i16x8_s(lo, b0), i32x4.dot_i16x8_s(hi, b1));
}

export function mmQ2_K(wq: usize, ws: usize, cols: i32, rows: i32, g0: i32, g1: i32, act: usize, actStride: i32, nTok: i32, out: usize): void {
  const nsb = cols / 256;
  for (let g = g0; g < g1; g++) {
    const gq = wq + <usize>g * <usize>nsb * 256;
    const gm = ws + <usize>g * <usize>nsb * 96;
    const valid = min<i32>(4, rows - g * 4);
    for (let t = 0; t < nTok; t++) {
      const a = act + <usize>t * <usize>actStride;
      const ad = a + <usize>(3 * cols);
      const bs = ad + <usize>(4 * nsb);
      let acc = f32x4.splat(0);
      for (let s = 0; s < nsb; s++) {
        const p = gq + <usize>(s * 256);
        const m = gm + <usize>(s * 96);
        const xs = a + <usize>(s * 256);
        const r0 = q2kRow(p, m + 32, xs, ZERO);
        const r1 = q2kRow(p + 64, m + 48, xs, ZERO);
        const r2 = q2kRow(p + 128, m + 64, xs, ZERO);
        const r3 = q2kRow(p + 192, m + 80, xs, ZERO);
        const b16 = bs + <usize>(s * 32);
        const b0 = v128.load(b16), b1 = v128.load(b16, 16);
        const summ = f32x4.convert_i32x4_s(reduce4(q2kMins(m + 32, b0, b1), q2kMins(m + 48, b0, b1), q2kMins(m + 64, b0, b1), q2kMins(m + 80, b0, b1)));
        const dy = f32x4.splat(load<f32>(ad + (s << 2)));
        acc = f32x4.add(acc, f32x4.mul(f32x4.mul(v128.load(m), dy), f32x4.convert_i32x4_s(reduce4(r0, r1, r2, r3))));
        acc = f32x4.sub(acc, f32x4.mul(f32x4.mul(v128.load(m, 16), dy), summ));
      }
      storeLanes(out + ((<usize>t * <usize>rows + <usize>(g * 4)) << 2), acc, valid);
    }
  }
}

// ---- Q3_K × Q8_K: value = (2 low bits | high bit << 2) − 4, signed 6-bit scale per 16 values.
// Quants per row-superblock: qs[64] | hmask[32] (96 bytes). Meta, 80 bytes: d f32[4] | (scale − 32) i8[4][16].
// @ts-ignore: decorator
@inline
function q3kRow(q: usize, sc: usize, xs: usize, acc: v128): v128 {
  const m3 = i8x16.splat(3), b2 = i8x16.splat(4);
  const h0 = v128.load(q, 64), h1 = v128.load(q, 80);
  for (let n = 0; n < 2; n++) {
    const w0 = v128.load(q + <usize>(n * 32)), w1 = v128.load(q + <usize>(n * 32), 16);
    for (let j = 0; j < 4; j++) {
      const x = xs + <usize>(n * 128 + j * 32);
      const s = sc + <usize>(n * 8 + j * 2);
      const hb = n * 4 + j;
      // high bit hb of hmask moved to bit 2 (16-bit shifts; the mask drops what crossed bytes)
      const u0 = v128.or(v128.and(i16x8.shr_u(w0, 2 * j), m3), v128.and(hb >= 2 ? i16x8.shr_u(h0, hb - 2) : i16x8.shl(h0, 2 - hb), b2));
      const u1 = v128.or(v128.and(i16x8.shr_u(w1, 2 * j), m3), v128.and(hb >= 2 ? i16x8.shr_u(h1, hb - 2) : i16x8.shl(h1, 2 - hb), b2));
      acc = i32x4.add(acc, i32x4.dot_i16x8_s(dotI8U7(v128.load(x), u0), i16x8.splat(<i16>load<i8>(s))));
      acc = i32x4.add(acc, i32x4.dot_i16x8_s(dotI8U7(v128.load(x, 16), u1), i16x8.splat(<i16>load<i8>(s, 1))));
    }
  }
  return acc;
}

export function mmQ3_K(wq: usize, ws: usize, cols: i32, rows: i32, g0: i32, g1: i32, act: usize, actStride: i32, nTok: i32, out: usize): void {
  const nsb = cols / 256;
  for (let g = g0; g < g1; g++) {
    const gq = wq + <usize>g * <usize>nsb * 384;
    const gm = ws + <usize>g * <usize>nsb * 80;
    const valid = min<i32>(4, rows - g * 4);
    for (let t = 0; t < nTok; t++) {
      const a = act + <usize>t * <usize>actStride;
      const ad = a + <usize>(3 * cols);
      const bs = ad + <usize>(4 * nsb);
      let acc = f32x4.splat(0);
      for (let s = 0; s < nsb; s++) {
        const p = gq + <usize>(s * 384);
        const m = gm + <usize>(s * 80);
        const xs = a + <usize>(s * 256);
        const b16 = bs + <usize>(s * 32);
        const b0 = v128.load(b16), b1 = v128.load(b16, 16);
        // −4·Σ sc·bsum16 removes the offset of the unsigned form.
        const r0 = q3kRow(p, m + 16, xs, i32x4.mul(q6kBias(m + 16, b0, b1), i32x4.splat(-4)));
        const r1 = q3kRow(p + 96, m + 32, xs, i32x4.mul(q6kBias(m + 32, b0, b1), i32x4.splat(-4)));
        const r2 = q3kRow(p + 192, m + 48, xs, i32x4.mul(q6kBias(m + 48, b0, b1), i32x4.splat(-4)));
        const r3 = q3kRow(p + 288, m + 64, xs, i32x4.mul(q6kBias(m + 64, b0, b1), i32x4.splat(-4)));
        const d = f32x4.mul(v128.load(m), f32x4.splat(load<f32>(ad + (s << 2))));
        acc = f32x4.add(acc, f32x4.mul(d, f32x4.convert_i32x4_s(reduce4(r0, r1, r2, r3))));
      }
      storeLanes(out + ((<usize>t * <usize>rows + <usize>(g * 4)) << 2), acc, valid);
    }
  }
}
