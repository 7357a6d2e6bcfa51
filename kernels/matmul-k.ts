// K-quants (Q2_K … Q6_K) and IQ4_XS × Q8_K activations, with llama.cpp's f32 arithmetic (see
// matmul.ts and src/backend/ref/vecdot.ts). MODE_VEC (ggml_vec_dot_*_q8_K, AVX2 shape): per
// super-block eight int lanes per output, lane k = Σ over elements e with (e mod 32) div 4 = k of
// scale·w·x, then lane_k = fma(d_w·d_x, f32(int lane k), lane_k); per-type min terms. MODE_REPACK
// (Q4_K, Q2_K with rows % 8 = 0): acc = fma(isum, d, acc), accMin = fma(imin, dmin, accMin) per
// super-block (gemv) or per 64/128 values (gemm, tokens in whole groups of 4). MODE_IQP (IQ4_XS,
// ≥ 8 tokens, rows % 8 = 0): one fma per super-block.
//
// Layouts (repack.ts), per (group of 4 rows, super-block):
//   Q4_K quants [32][4 rows][4 bytes] (rows interleaved 4 bytes at a time), meta 80: d f16[4] |
//        dmin f16[4] | sc u8[8 sub-blocks][4 rows] | m u8[4][8]
//   Q5_K quants [4][qs 128 | qh 32], meta 128: d f32[4] | dmin f32[4] | sc u16[4 rows][8] | m u8[4][8]
//   Q6_K quants [4][ql 128 | qh 64], meta 144: d f32[4] | sc i16[4][16]
//   Q3_K quants [4][qs 64 | hmask 32], meta 80: d f32[4] | (scale − 32) i8[4][16]
//   Q2_K quants [4][qs 64], meta 96: d f32[4] | dmin f32[4] | (sc | m << 4) u8[4][16]
//   IQ4_XS quants [4][128], meta 48: d f32[4] | (ls − 32) i8[4][8]
// Q8_K area per token: q8 i8[n] | q16 i16[n] | d f32[nb] | bsum i16[n/16].

import { reduce4, reduce4f, storeLanes, dotI8U7, keepI8, keepV, f16x4, f16Keep, f16Scale } from "./util";
import { fmaSF, fmaSI, fmaVF, splatLane, splatS, hsum8, tr4 } from "./exact";
import { hiNib, MODE_REPACK, MODE_IQP } from "./matmul";

const ZERO = i32x4.splat(0);

// ---- Q4_K / Q5_K

/** One half of a 64-value chunk's lanes: 16 bytes w (lo nibbles against xa, hi against xb), optional fifth bits h. */
// @ts-ignore: decorator
@inline
function k45Half(five: bool, w: v128, qh: usize, bl: v128, bh: v128, sc: usize, sc2: usize, xa: v128, xb: v128, acc: v128, m4: v128, b4: v128): v128 {
  // Scales: u16 (Q5_K) or u8 (Q4_K).
  const s1 = five ? v128.load16_splat(sc) : i16x8.splat(<i16>load<u8>(sc)), s2 = five ? v128.load16_splat(sc2) : i16x8.splat(<i16>load<u8>(sc2));
  let lo = v128.and(w, m4), hi = hiNib(w, m4);
  if (five) {
    // Fifth bits 2j (lo) and 2j + 1 (hi) of each byte, selected by the masks bl, bh: a shift by
    // the loop's 2j would be a variable v128 shift, three extra instructions each in V8.
    const h = v128.load(qh);
    lo = v128.or(lo, v128.and(i8x16.eq(v128.and(h, bl), bl), b4));
    hi = v128.or(hi, v128.and(i8x16.eq(v128.and(h, bh), bh), b4));
  }
  acc = i32x4.add(acc, i32x4.dot_i16x8_s(dotI8U7(xa, lo), s1));
  return i32x4.add(acc, i32x4.dot_i16x8_s(dotI8U7(xb, hi), s2));
}

/**
 * Bytes 16h .. 16h + 15 of chunk j of row r in Q4_K's layout (rows interleaved 4 bytes at a time,
 * repack.ts): lane r of four consecutive vectors, for the kernels that want whole rows (MODE_VEC).
 */
// @ts-ignore: decorator
@inline
function q4kRowBytes(p: usize, j: i32, h: i32, r: i32): v128 {
  const v = p + <usize>((8 * j + 4 * h) * 16);
  return tr4(v128.load(v), v128.load(v, 16), v128.load(v, 32), v128.load(v, 48), r);
}

/** Weight bytes and scale pointers of row r, chunk j, half h for vecK45 (Q5_K row-major, Q4_K interleaved). */
// @ts-ignore: decorator
@inline
function k45Call(five: bool, p: usize, m: usize, j: i32, h: i32, r: i32, qh: usize, bl: v128, bh: v128, xa: v128, xb: v128, acc: v128, m4: v128, b4: v128): v128 {
  if (five) {
    const sc = m + 32 + <usize>((r * 8 + 2 * j) * 2);
    return k45Half(true, v128.load(p + <usize>(r * 160 + j * 32 + h * 16)), qh + <usize>(r * 160 + h * 16), bl, bh, sc, sc + 2, xa, xb, acc, m4, b4);
  }
  const sc = m + 16 + <usize>(2 * j * 4 + r);
  return k45Half(false, q4kRowBytes(p, j, h, r), 0, bl, bh, sc, sc + 4, xa, xb, acc, m4, b4);
}

/** Σ min·(32-value activation sums) per pair of sub-blocks: lane p = m[2p]·s[2p] + m[2p+1]·s[2p+1] for row r. */
// @ts-ignore: decorator
@inline
function k45Mins(five: bool, m: usize, r: i32, bs32: v128): v128 {
  return i32x4.dot_i16x8_s(v128.load8x8_u(m + <usize>((five ? 96 : 48) + r * 8)), bs32);
}

// @ts-ignore: decorator
@inline
function bsum32(b16: usize): v128 {
  return i16x8.narrow_i32x4_s(i32x4.extadd_pairwise_i16x8_s(v128.load(b16)), i32x4.extadd_pairwise_i16x8_s(v128.load(b16, 16)));
}

/** ggml_vec_dot_q4_K_q8_K / _q5_K_q8_K: eight lanes; Q4_K four min lanes, Q5_K a scalar min sum. */
// @ts-ignore: decorator
@inline
function vecK45(five: bool, wq: usize, ws: usize, cols: i32, rows: i32, g0: i32, g1: i32, act: usize, actStride: i32, nTok: i32, out: usize): void {
  const nsb = cols / 256;
  const qRow: usize = five ? 160 : 128;
  const zero = f32x4.splat(0);
  const meta: usize = five ? 128 : 80;
  const m4 = keepI8(0x0f, rows >> 31), b4 = keepI8(0x10, rows >> 31);
  const hk = f16Keep(rows >> 31), hs = f16Scale(rows >> 31);
  for (let g = g0; g < g1; g++) {
    const gq = wq + <usize>g * <usize>nsb * (qRow * 4);
    const gm = ws + <usize>g * <usize>nsb * meta;
    const valid = min<i32>(4, rows - g * 4);
    for (let t = 0; t < nTok; t++) {
      const a = act + <usize>t * <usize>actStride;
      const ad = a + <usize>(3 * cols);
      const bs = ad + <usize>(4 * nsb);
      let A0 = zero, A1 = zero, A2 = zero, A3 = zero, B0 = zero, B1 = zero, B2 = zero, B3 = zero;
      let M0 = zero, M1 = zero, M2 = zero, M3 = zero;
      for (let s = 0; s < nsb; s++) {
        const p = gq + <usize>s * (qRow * 4);
        const m = gm + <usize>s * meta;
        const xs = a + <usize>(s * 256);
        let L0 = ZERO, L1 = ZERO, L2 = ZERO, L3 = ZERO, H0 = ZERO, H1 = ZERO, H2 = ZERO, H3 = ZERO;
        for (let j = 0; j < 4; j++) {
          const xa = xs + <usize>(j * 64);
          const x0 = v128.load(xa), x1 = v128.load(xa, 16), x2 = v128.load(xa, 32), x3 = v128.load(xa, 48);
          const qh = p + 128;
          const bl = i32x4.splat(0x01010101 << (2 * j)), bh = i32x4.splat(0x02020202 << (2 * j));
          L0 = k45Call(five, p, m, j, 0, 0, qh, bl, bh, x0, x2, L0, m4, b4); H0 = k45Call(five, p, m, j, 1, 0, qh, bl, bh, x1, x3, H0, m4, b4);
          L1 = k45Call(five, p, m, j, 0, 1, qh, bl, bh, x0, x2, L1, m4, b4); H1 = k45Call(five, p, m, j, 1, 1, qh, bl, bh, x1, x3, H1, m4, b4);
          L2 = k45Call(five, p, m, j, 0, 2, qh, bl, bh, x0, x2, L2, m4, b4); H2 = k45Call(five, p, m, j, 1, 2, qh, bl, bh, x1, x3, H2, m4, b4);
          L3 = k45Call(five, p, m, j, 0, 3, qh, bl, bh, x0, x2, L3, m4, b4); H3 = k45Call(five, p, m, j, 1, 3, qh, bl, bh, x1, x3, H3, m4, b4);
        }
        const yd = f32x4.splat(load<f32>(ad + (<usize>s << 2)));
        const bs32 = bsum32(bs + <usize>(s * 32));
        const dmin = f32x4.neg(f32x4.mul(five ? v128.load(m, 16) : f16x4(m + 8, hk, hs), yd));
        if (five) {
          const mins = reduce4(k45Mins(true, m, 0, bs32), k45Mins(true, m, 1, bs32), k45Mins(true, m, 2, bs32), k45Mins(true, m, 3, bs32));
          M0 = fmaVF(M0, dmin, mins);
        } else {
          M0 = fmaSI(M0, splatLane(dmin, 0), k45Mins(false, m, 0, bs32));
          M1 = fmaSI(M1, splatLane(dmin, 1), k45Mins(false, m, 1, bs32));
          M2 = fmaSI(M2, splatLane(dmin, 2), k45Mins(false, m, 2, bs32));
          M3 = fmaSI(M3, splatLane(dmin, 3), k45Mins(false, m, 3, bs32));
        }
        const d = f32x4.mul(five ? v128.load(m) : f16x4(m, hk, hs), yd);
        const d0 = splatLane(d, 0), d1 = splatLane(d, 1), d2 = splatLane(d, 2), d3 = splatLane(d, 3);
        A0 = fmaSF(A0, d0, L0); B0 = fmaSF(B0, d0, H0);
        A1 = fmaSF(A1, d1, L1); B1 = fmaSF(B1, d1, H1);
        A2 = fmaSF(A2, d2, L2); B2 = fmaSF(B2, d2, H2);
        A3 = fmaSF(A3, d3, L3); B3 = fmaSF(B3, d3, H3);
      }
      let res = reduce4f(f32x4.add(A0, B0), f32x4.add(A1, B1), f32x4.add(A2, B2), f32x4.add(A3, B3));
      res = f32x4.add(res, five ? M0 : reduce4f(M0, M1, M2, M3));
      storeLanes(out + ((<usize>t * <usize>rows + <usize>(g * 4)) << 2), res, valid);
    }
  }
}

/**
 * One token's chunk sums for a Q4_K group, four rows in the lanes (i32): with the rows interleaved
 * 4 bytes at a time (repack.ts) one broadcast of 4 activations and one dot serve all four rows.
 * lo/hi: the i16 sums so far of the chunk's low / high nibble halves (at most 8·2·15·127).
 */
// @ts-ignore: decorator
@inline
function q4kHalf(x: usize, l0: v128, l1: v128, l2: v128, l3: v128, acc: v128): v128 {
  return i16x8.add(acc, i16x8.add(i16x8.add(dotI8U7(v128.load32_splat(x), l0), dotI8U7(v128.load32_splat(x, 4), l1)),
    i16x8.add(dotI8U7(v128.load32_splat(x, 8), l2), dotI8U7(v128.load32_splat(x, 12), l3))));
}

/** The four rows' scales of sub-block `sub` as i16 pairs [s0 s0 s1 s1 s2 s2 s3 s3] (dot_i16x8 with row-pair sums). */
// @ts-ignore: decorator
@inline
function q4kScales(m: usize, sub: i32): v128 {
  const v = v128.load8x8_u(m + 16 + <usize>(sub * 4));
  return v128.shuffle<i16>(v, v, 0, 0, 1, 1, 2, 2, 3, 3);
}

/**
 * Repacked Q4_K (ggml_gemv/gemm_q4_K_8x8_q8_K): acc − accMin with one fma per super-block
 * (gemv) or per 64-value chunk (gemm: tokens below nTok − nTok % 4). Tokens in fours (then pairs,
 * then single ones) share each weight load and unpack.
 */
function repackQ4_K(wq: usize, ws: usize, cols: i32, rows: i32, g0: i32, g1: i32, act: usize, actStride: i32, nTok: i32, out: usize, nGemm: i32): void {
  for (let g = g0; g < g1; g++) {
    let t = 0;
    // A group never straddles the gemm/gemv boundary (a multiple of 4, except in a shard's chunk).
    for (; t + 4 <= nTok && (t + 4 <= nGemm || t >= nGemm); t += 4) q4kTokens(4, t < nGemm, wq, ws, cols, rows, g, act, actStride, t, out);
    for (; t + 2 <= nTok && (t + 2 <= nGemm || t >= nGemm); t += 2) q4kTokens(2, t < nGemm, wq, ws, cols, rows, g, act, actStride, t, out);
    for (; t < nTok; t++) q4kTokens(1, t < nGemm, wq, ws, cols, rows, g, act, actStride, t, out);
  }
}

/** `n` (1, 2 or 4, a constant after inlining) tokens from t on over row group g. */
// @ts-ignore: decorator
@inline
function q4kTokens(n: i32, gemm: bool, wq: usize, ws: usize, cols: i32, rows: i32, g: i32, act: usize, actStride: i32, t: i32, out: usize): void {
  const nsb = cols / 256;
  const m4 = keepI8(0x0f, rows >> 31);
  const zero = f32x4.splat(0);
  const a0 = act + <usize>t * <usize>actStride, a1 = a0 + <usize>actStride, a2 = a1 + <usize>actStride, a3 = a2 + <usize>actStride;
  const d0 = a0 + <usize>(3 * cols), d1 = a1 + <usize>(3 * cols), d2 = a2 + <usize>(3 * cols), d3 = a3 + <usize>(3 * cols);
  const bsOff = <usize>(4 * nsb);
  const hk = f16Keep(rows >> 31), hs = f16Scale(rows >> 31);
  let c0 = zero, c1 = zero, c2 = zero, c3 = zero, n0 = zero, n1 = zero, n2 = zero, n3 = zero;
  let p = wq + <usize>g * <usize>nsb * 512, m = ws + <usize>g * <usize>nsb * 80;
  for (let s = 0; s < nsb; s++) {
    const so = <usize>(s * 256), bo = <usize>(s * 4), b32 = <usize>(s * 32);
    const dv = f16x4(m, hk, hs), dmv = f16x4(m + 8, hk, hs);
    let i0 = ZERO, i1 = ZERO, i2 = ZERO, i3 = ZERO;
    for (let j = 0; j < 4; j++) {
      let lo0 = ZERO, hi0 = ZERO, lo1 = ZERO, hi1 = ZERO, lo2 = ZERO, hi2 = ZERO, lo3 = ZERO, hi3 = ZERO;
      for (let h = 0; h < 2; h++) {
        const v = p + <usize>((8 * j + 4 * h) * 16);
        const w0 = v128.load(v), w1 = v128.load(v, 16), w2 = v128.load(v, 32), w3 = v128.load(v, 48);
        const l0 = v128.and(w0, m4), l1 = v128.and(w1, m4), l2 = v128.and(w2, m4), l3 = v128.and(w3, m4);
        const h0 = hiNib(w0, m4), h1 = hiNib(w1, m4), h2 = hiNib(w2, m4), h3 = hiNib(w3, m4);
        const xo = so + <usize>(64 * j + 16 * h);
        lo0 = q4kHalf(a0 + xo, l0, l1, l2, l3, lo0); hi0 = q4kHalf(a0 + xo + 32, h0, h1, h2, h3, hi0);
        if (n >= 2) { lo1 = q4kHalf(a1 + xo, l0, l1, l2, l3, lo1); hi1 = q4kHalf(a1 + xo + 32, h0, h1, h2, h3, hi1); }
        if (n == 4) {
          lo2 = q4kHalf(a2 + xo, l0, l1, l2, l3, lo2); hi2 = q4kHalf(a2 + xo + 32, h0, h1, h2, h3, hi2);
          lo3 = q4kHalf(a3 + xo, l0, l1, l2, l3, lo3); hi3 = q4kHalf(a3 + xo + 32, h0, h1, h2, h3, hi3);
        }
      }
      const sl = q4kScales(m, 2 * j), sh = q4kScales(m, 2 * j + 1);
      const k0 = i32x4.add(i32x4.dot_i16x8_s(lo0, sl), i32x4.dot_i16x8_s(hi0, sh));
      const k1 = n >= 2 ? i32x4.add(i32x4.dot_i16x8_s(lo1, sl), i32x4.dot_i16x8_s(hi1, sh)) : ZERO;
      const k2 = n == 4 ? i32x4.add(i32x4.dot_i16x8_s(lo2, sl), i32x4.dot_i16x8_s(hi2, sh)) : ZERO;
      const k3 = n == 4 ? i32x4.add(i32x4.dot_i16x8_s(lo3, sl), i32x4.dot_i16x8_s(hi3, sh)) : ZERO;
      if (gemm) {
        c0 = fmaVF(c0, f32x4.mul(dv, v128.load32_splat(d0 + bo)), k0);
        if (n >= 2) c1 = fmaVF(c1, f32x4.mul(dv, v128.load32_splat(d1 + bo)), k1);
        if (n == 4) {
          c2 = fmaVF(c2, f32x4.mul(dv, v128.load32_splat(d2 + bo)), k2);
          c3 = fmaVF(c3, f32x4.mul(dv, v128.load32_splat(d3 + bo)), k3);
        }
      } else {
        i0 = i32x4.add(i0, k0); i1 = i32x4.add(i1, k1); i2 = i32x4.add(i2, k2); i3 = i32x4.add(i3, k3);
      }
    }
    if (!gemm) {
      c0 = fmaVF(c0, f32x4.mul(dv, v128.load32_splat(d0 + bo)), i0);
      if (n >= 2) c1 = fmaVF(c1, f32x4.mul(dv, v128.load32_splat(d1 + bo)), i1);
      if (n == 4) {
        c2 = fmaVF(c2, f32x4.mul(dv, v128.load32_splat(d2 + bo)), i2);
        c3 = fmaVF(c3, f32x4.mul(dv, v128.load32_splat(d3 + bo)), i3);
      }
    }
    n0 = q4kMins(gemm, n0, m, dmv, d0, bo, bsOff, b32);
    if (n >= 2) n1 = q4kMins(gemm, n1, m, dmv, d1, bo, bsOff, b32);
    if (n == 4) {
      n2 = q4kMins(gemm, n2, m, dmv, d2, bo, bsOff, b32);
      n3 = q4kMins(gemm, n3, m, dmv, d3, bo, bsOff, b32);
    }
    p += 512; m += 80;
  }
  const o = out + (<usize>(g * 4) << 2), rowBytes = <usize>rows << 2;
  const valid = min<i32>(4, rows - g * 4);
  storeLanes(o + <usize>t * rowBytes, f32x4.sub(c0, n0), valid);
  if (n >= 2) storeLanes(o + <usize>(t + 1) * rowBytes, f32x4.sub(c1, n1), valid);
  if (n == 4) {
    storeLanes(o + <usize>(t + 2) * rowBytes, f32x4.sub(c2, n2), valid);
    storeLanes(o + <usize>(t + 3) * rowBytes, f32x4.sub(c3, n3), valid);
  }
}

/**
 * The min term of one super-block for one token (d: its Q8_K area's scale array): one fma per
 * 64-value chunk in chunk order (gemm) or one for the super-block (gemv).
 */
// @ts-ignore: decorator
@inline
function q4kMins(gemm: bool, acc: v128, m: usize, dmv: v128, d: usize, bo: usize, bsOff: usize, b32: usize): v128 {
  const bs32 = bsum32(d + bsOff + b32);
  const dm = f32x4.mul(dmv, v128.load32_splat(d + bo));
  const m0 = k45Mins(false, m, 0, bs32), m1 = k45Mins(false, m, 1, bs32), m2 = k45Mins(false, m, 2, bs32), m3 = k45Mins(false, m, 3, bs32);
  if (!gemm) return fmaVF(acc, dm, reduce4(m0, m1, m2, m3));
  acc = fmaVF(acc, dm, tr4(m0, m1, m2, m3, 0));
  acc = fmaVF(acc, dm, tr4(m0, m1, m2, m3, 1));
  acc = fmaVF(acc, dm, tr4(m0, m1, m2, m3, 2));
  return fmaVF(acc, dm, tr4(m0, m1, m2, m3, 3));
}

export function mmQ4_K(wq: usize, ws: usize, cols: i32, rows: i32, g0: i32, g1: i32, act: usize, actStride: i32, nTok: i32, out: usize, mode: i32): void {
  if ((mode & 15) == MODE_REPACK) repackQ4_K(wq, ws, cols, rows, g0, g1, act, actStride, nTok, out, mode >> 4);
  else vecK45(false, wq, ws, cols, rows, g0, g1, act, actStride, nTok, out);
}
export function mmQ5_K(wq: usize, ws: usize, cols: i32, rows: i32, g0: i32, g1: i32, act: usize, actStride: i32, nTok: i32, out: usize, mode: i32): void {
  vecK45(true, wq, ws, cols, rows, g0, g1, act, actStride, nTok, out);
}

// ---- Q6_K: unsigned quants (0..63); lane k loses 32·(bsum(2k)·sc[2k] + bsum(2k+1)·sc[2k+1]).

// @ts-ignore: decorator
@inline
function q6kPart(ql: usize, qh: usize, sc: usize, x: usize, acc: v128, m4: v128, m30: v128): v128 {
  const l0 = v128.load(ql), l1 = v128.load(ql, 32), h = v128.load(qh);
  const q1 = v128.or(v128.and(l0, m4), v128.and(i16x8.shl(h, 4), m30));
  const q2 = v128.or(v128.and(l1, m4), v128.and(i16x8.shl(h, 2), m30));
  const q3 = v128.or(hiNib(l0, m4), v128.and(h, m30));
  const q4 = v128.or(hiNib(l1, m4), v128.and(i16x8.shr_u(h, 2), m30));
  acc = i32x4.add(acc, i32x4.dot_i16x8_s(dotI8U7(v128.load(x), q1), v128.load16_splat(sc)));
  acc = i32x4.add(acc, i32x4.dot_i16x8_s(dotI8U7(v128.load(x, 32), q2), v128.load16_splat(sc, 4)));
  acc = i32x4.add(acc, i32x4.dot_i16x8_s(dotI8U7(v128.load(x, 64), q3), v128.load16_splat(sc, 8)));
  return i32x4.add(acc, i32x4.dot_i16x8_s(dotI8U7(v128.load(x, 96), q4), v128.load16_splat(sc, 12)));
}

/** −32·(sc·bsum pairs) for lanes 0..3 (half 0) or 4..7 (half 1) of row r. */
// @ts-ignore: decorator
@inline
function q6kBias(sc: usize, b: v128): v128 {
  // −32·v as 0 − (v << 5): pmulld is slow, and V8 reloads the splat constant at every use.
  return i32x4.sub(ZERO, i32x4.shl(i32x4.dot_i16x8_s(v128.load(sc), b), 5));
}

// @ts-ignore: decorator
@inline
function q6kPair(ql: usize, qh: usize, sc: usize, xa: usize, ya: usize, accx: v128, accy: v128, which: i32, m4: v128, m30: v128): v128 {
  // q6kPart for token `which` of a pair; both calls unpack the same quants, shared after CSE.
  const l0 = v128.load(ql), l1 = v128.load(ql, 32), h = v128.load(qh);
  const q1 = v128.or(v128.and(l0, m4), v128.and(i16x8.shl(h, 4), m30));
  const q2 = v128.or(v128.and(l1, m4), v128.and(i16x8.shl(h, 2), m30));
  const q3 = v128.or(hiNib(l0, m4), v128.and(h, m30));
  const q4 = v128.or(hiNib(l1, m4), v128.and(i16x8.shr_u(h, 2), m30));
  const x = which == 0 ? xa : ya;
  let acc = which == 0 ? accx : accy;
  acc = i32x4.add(acc, i32x4.dot_i16x8_s(dotI8U7(v128.load(x), q1), v128.load16_splat(sc)));
  acc = i32x4.add(acc, i32x4.dot_i16x8_s(dotI8U7(v128.load(x, 32), q2), v128.load16_splat(sc, 4)));
  acc = i32x4.add(acc, i32x4.dot_i16x8_s(dotI8U7(v128.load(x, 64), q3), v128.load16_splat(sc, 8)));
  return i32x4.add(acc, i32x4.dot_i16x8_s(dotI8U7(v128.load(x, 96), q4), v128.load16_splat(sc, 12)));
}

/** Q6_K token pairs, one row at a time: a row's lanes for two tokens stay in registers and share the unpack. */
function pairsQ6_K(wq: usize, ws: usize, cols: i32, rows: i32, g0: i32, g1: i32, act: usize, actStride: i32, nPairs: i32, out: usize): void {
  const nsb = cols / 256;
  const m4 = keepI8(0x0f, rows >> 31), m30 = keepI8(0x30, rows >> 31);
  const zero = f32x4.splat(0);
  for (let g = g0; g < g1; g++) {
    const valid = min<i32>(4, rows - g * 4);
    for (let r = 0; r < valid; r++) {
      const R = g * 4 + r;
      for (let t = 0; t < 2 * nPairs; t += 2) {
        const a = act + <usize>t * <usize>actStride, a2 = a + <usize>actStride;
        const ad = a + <usize>(3 * cols), ad2 = a2 + <usize>(3 * cols);
        const bs = ad + <usize>(4 * nsb), bs2 = ad2 + <usize>(4 * nsb);
        let xa = zero, xb = zero, ya = zero, yb = zero;
        for (let s = 0; s < nsb; s++) {
          const gs = <usize>g * <usize>nsb + <usize>s;
          const p = wq + gs * 768 + <usize>(r * 192);
          const m = ws + gs * 144;
          const sc = m + 16 + <usize>(r * 32);
          const bx = bs + <usize>(s * 32), by = bs2 + <usize>(s * 32);
          let lx = q6kBias(sc, v128.load(bx)), hx = q6kBias(sc + 16, v128.load(bx, 16));
          let ly = q6kBias(sc, v128.load(by)), hy = q6kBias(sc + 16, v128.load(by, 16));
          const xs = a + <usize>(s * 256), ys = a2 + <usize>(s * 256);
          for (let n = 0; n < 2; n++) {
            const ql = p + <usize>(n * 64), qh = p + 128 + <usize>(n * 32);
            const xo = xs + <usize>(n * 128), yo = ys + <usize>(n * 128);
            const scn = sc + <usize>(n * 16);
            lx = q6kPair(ql, qh, scn, xo, yo, lx, ly, 0, m4, m30); ly = q6kPair(ql, qh, scn, xo, yo, lx, ly, 1, m4, m30);
            hx = q6kPair(ql + 16, qh + 16, scn + 2, xo + 16, yo + 16, hx, hy, 0, m4, m30); hy = q6kPair(ql + 16, qh + 16, scn + 2, xo + 16, yo + 16, hx, hy, 1, m4, m30);
          }
          const dw = load<f32>(m + (<usize>r << 2));
          const dx = splatS(dw * load<f32>(ad + (<usize>s << 2))), dy = splatS(dw * load<f32>(ad2 + (<usize>s << 2)));
          xa = fmaSF(xa, dx, lx); xb = fmaSF(xb, dx, hx);
          ya = fmaSF(ya, dy, ly); yb = fmaSF(yb, dy, hy);
        }
        store<f32>(out + ((<usize>t * <usize>rows + <usize>R) << 2), hsum8(xa, xb));
        store<f32>(out + ((<usize>(t + 1) * <usize>rows + <usize>R) << 2), hsum8(ya, yb));
      }
    }
  }
}

export function mmQ6_K(wq: usize, ws: usize, cols: i32, rows: i32, g0: i32, g1: i32, act: usize, actStride: i32, nTok: i32, out: usize, mode: i32): void {
  if (nTok >= 2) {
    pairsQ6_K(wq, ws, cols, rows, g0, g1, act, actStride, nTok >> 1, out);
    if (!(nTok & 1)) return;
    act += <usize>(nTok - 1) * <usize>actStride;
    out += <usize>(nTok - 1) * <usize>rows << 2;
    nTok = 1;
  }
  const nsb = cols / 256;
  const m4 = keepI8(0x0f, rows >> 31), m30 = keepI8(0x30, rows >> 31);
  const zero = f32x4.splat(0);
  for (let g = g0; g < g1; g++) {
    const gq = wq + <usize>g * <usize>nsb * 768;
    const gm = ws + <usize>g * <usize>nsb * 144;
    const valid = min<i32>(4, rows - g * 4);
    for (let t = 0; t < nTok; t++) {
      const a = act + <usize>t * <usize>actStride;
      const ad = a + <usize>(3 * cols);
      const bs = ad + <usize>(4 * nsb);
      let A0 = zero, A1 = zero, A2 = zero, A3 = zero, B0 = zero, B1 = zero, B2 = zero, B3 = zero;
      for (let s = 0; s < nsb; s++) {
        const p = gq + <usize>(s * 768);
        const m = gm + <usize>(s * 144);
        const xs = a + <usize>(s * 256);
        const b16 = bs + <usize>(s * 32);
        const b0 = v128.load(b16), b1 = v128.load(b16, 16);
        let L0 = q6kBias(m + 16, b0), L1 = q6kBias(m + 48, b0), L2 = q6kBias(m + 80, b0), L3 = q6kBias(m + 112, b0);
        let H0 = q6kBias(m + 32, b1), H1 = q6kBias(m + 64, b1), H2 = q6kBias(m + 96, b1), H3 = q6kBias(m + 128, b1);
        for (let n = 0; n < 2; n++) {
          const ql = p + <usize>(n * 64), qh = p + 128 + <usize>(n * 32);
          const x = xs + <usize>(n * 128);
          const sc = m + 16 + <usize>(n * 16);
          L0 = q6kPart(ql, qh, sc, x, L0, m4, m30); H0 = q6kPart(ql + 16, qh + 16, sc + 2, x + 16, H0, m4, m30);
          L1 = q6kPart(ql + 192, qh + 192, sc + 32, x, L1, m4, m30); H1 = q6kPart(ql + 208, qh + 208, sc + 34, x + 16, H1, m4, m30);
          L2 = q6kPart(ql + 384, qh + 384, sc + 64, x, L2, m4, m30); H2 = q6kPart(ql + 400, qh + 400, sc + 66, x + 16, H2, m4, m30);
          L3 = q6kPart(ql + 576, qh + 576, sc + 96, x, L3, m4, m30); H3 = q6kPart(ql + 592, qh + 592, sc + 98, x + 16, H3, m4, m30);
        }
        const d = f32x4.mul(v128.load(m), f32x4.splat(load<f32>(ad + (<usize>s << 2))));
        const d0 = splatLane(d, 0), d1 = splatLane(d, 1), d2 = splatLane(d, 2), d3 = splatLane(d, 3);
        A0 = fmaSF(A0, d0, L0); B0 = fmaSF(B0, d0, H0);
        A1 = fmaSF(A1, d1, L1); B1 = fmaSF(B1, d1, H1);
        A2 = fmaSF(A2, d2, L2); B2 = fmaSF(B2, d2, H2);
        A3 = fmaSF(A3, d3, L3); B3 = fmaSF(B3, d3, H3);
      }
      storeLanes(out + ((<usize>t * <usize>rows + <usize>(g * 4)) << 2),
        reduce4f(f32x4.add(A0, B0), f32x4.add(A1, B1), f32x4.add(A2, B2), f32x4.add(A3, B3)), valid);
    }
  }
}

// ---- Q3_K: value = (2 low bits | high bit << 2) − 4; the −4·x comes off at i16 pair level so
// every lane holds its own elements' exact sum.

// @ts-ignore: decorator
@inline
function q3kHalf(w: v128, h: v128, j: i32, hm: v128, x: v128, xp4: v128, s: usize, acc: v128, m3: v128, b2: v128): v128 {
  // High bit hb of each byte, selected by the mask hm (a shift by the variable hb would be two
  // variable v128 shifts and a select).
  const u = v128.or(v128.and(i16x8.shr_u(w, 2 * j), m3), v128.and(i8x16.eq(v128.and(h, hm), hm), b2));
  return i32x4.add(acc, i32x4.dot_i16x8_s(i16x8.sub(dotI8U7(x, u), xp4), i16x8.splat(<i16>load<i8>(s))));
}

export function mmQ3_K(wq: usize, ws: usize, cols: i32, rows: i32, g0: i32, g1: i32, act: usize, actStride: i32, nTok: i32, out: usize, mode: i32): void {
  const nsb = cols / 256;
  const m3 = keepI8(3, rows >> 31), b2 = keepI8(4, rows >> 31);
  const zero = f32x4.splat(0);
  for (let g = g0; g < g1; g++) {
    const gq = wq + <usize>g * <usize>nsb * 384;
    const gm = ws + <usize>g * <usize>nsb * 80;
    const valid = min<i32>(4, rows - g * 4);
    for (let t = 0; t < nTok; t++) {
      const a = act + <usize>t * <usize>actStride;
      const ad = a + <usize>(3 * cols);
      let A0 = zero, A1 = zero, A2 = zero, A3 = zero, B0 = zero, B1 = zero, B2 = zero, B3 = zero;
      for (let s = 0; s < nsb; s++) {
        const p = gq + <usize>(s * 384);
        const m = gm + <usize>(s * 80);
        const xs = a + <usize>(s * 256);
        let L0 = ZERO, L1 = ZERO, L2 = ZERO, L3 = ZERO, H0 = ZERO, H1 = ZERO, H2 = ZERO, H3 = ZERO;
        for (let n = 0; n < 2; n++) {
          for (let j = 0; j < 4; j++) {
            const xp = xs + <usize>(n * 128 + j * 32);
            const x0 = v128.load(xp), x1 = v128.load(xp, 16);
            const p0 = i16x8.shl(i16x8.extadd_pairwise_i8x16_s(x0), 2), p1 = i16x8.shl(i16x8.extadd_pairwise_i8x16_s(x1), 2);
            const hb = n * 4 + j;
            const hm = i32x4.splat(0x01010101 << hb);
            const sc = m + 16 + <usize>(n * 8 + j * 2);
            for (let r = 0; r < 4; r++) {
              const q = p + <usize>(r * 96);
              const w0 = v128.load(q + <usize>(n * 32)), w1 = v128.load(q + <usize>(n * 32), 16);
              const h0 = v128.load(q, 64), h1 = v128.load(q, 80);
              const sr = sc + <usize>(r * 16);
              if (r == 0) { L0 = q3kHalf(w0, h0, j, hm, x0, p0, sr, L0, m3, b2); H0 = q3kHalf(w1, h1, j, hm, x1, p1, sr + 1, H0, m3, b2); }
              else if (r == 1) { L1 = q3kHalf(w0, h0, j, hm, x0, p0, sr, L1, m3, b2); H1 = q3kHalf(w1, h1, j, hm, x1, p1, sr + 1, H1, m3, b2); }
              else if (r == 2) { L2 = q3kHalf(w0, h0, j, hm, x0, p0, sr, L2, m3, b2); H2 = q3kHalf(w1, h1, j, hm, x1, p1, sr + 1, H2, m3, b2); }
              else { L3 = q3kHalf(w0, h0, j, hm, x0, p0, sr, L3, m3, b2); H3 = q3kHalf(w1, h1, j, hm, x1, p1, sr + 1, H3, m3, b2); }
            }
          }
        }
        const d = f32x4.mul(v128.load(m), f32x4.splat(load<f32>(ad + (<usize>s << 2))));
        const d0 = splatLane(d, 0), d1 = splatLane(d, 1), d2 = splatLane(d, 2), d3 = splatLane(d, 3);
        A0 = fmaSF(A0, d0, L0); B0 = fmaSF(B0, d0, H0);
        A1 = fmaSF(A1, d1, L1); B1 = fmaSF(B1, d1, H1);
        A2 = fmaSF(A2, d2, L2); B2 = fmaSF(B2, d2, H2);
        A3 = fmaSF(A3, d3, L3); B3 = fmaSF(B3, d3, H3);
      }
      storeLanes(out + ((<usize>t * <usize>rows + <usize>(g * 4)) << 2),
        reduce4f(f32x4.add(A0, B0), f32x4.add(A1, B1), f32x4.add(A2, B2), f32x4.add(A3, B3)), valid);
    }
  }
}

// ---- Q2_K: 2-bit quants (0..3) per 16-value sub-block with a 4-bit scale and min.

// @ts-ignore: decorator
@inline
function q2kHalf(w: v128, j: i32, x: v128, s: usize, acc: v128, m3: v128): v128 {
  const q = v128.and(i16x8.shr_u(w, 2 * j), m3);
  return i32x4.add(acc, i32x4.dot_i16x8_s(dotI8U7(x, q), i16x8.splat(<i16>(load<u8>(s) & 15))));
}

/** Σ m·bsum16 over sub-blocks 8·half .. 8·half+7 of row r, as pair lanes: lane k = m[2k]·b[2k] + m[2k+1]·b[2k+1]. */
// @ts-ignore: decorator
@inline
function q2kMins(sc: usize, half: i32, b: v128): v128 {
  return i32x4.dot_i16x8_s(i16x8.shr_u(i16x8.extend_low_i8x16_u(v128.load64_zero(sc + <usize>(half * 8))), 4), b);
}

export function mmQ2_K(wq: usize, ws: usize, cols: i32, rows: i32, g0: i32, g1: i32, act: usize, actStride: i32, nTok: i32, out: usize, mode: i32): void {
  const nsb = cols / 256;
  const repack = (mode & 15) == MODE_REPACK;
  const nGemm = mode >> 4;
  const zero = f32x4.splat(0);
  const m3 = keepI8(3, rows >> 31);
  for (let g = g0; g < g1; g++) {
    const gq = wq + <usize>g * <usize>nsb * 256;
    const gm = ws + <usize>g * <usize>nsb * 96;
    const valid = min<i32>(4, rows - g * 4);
    for (let t = 0; t < nTok; t++) {
      const gemm = repack && t < nGemm;
      const a = act + <usize>t * <usize>actStride;
      const ad = a + <usize>(3 * cols);
      const bs = ad + <usize>(4 * nsb);
      let A0 = zero, A1 = zero, A2 = zero, A3 = zero, B0 = zero, B1 = zero, B2 = zero, B3 = zero;
      for (let s = 0; s < nsb; s++) {
        const p = gq + <usize>(s * 256);
        const m = gm + <usize>(s * 96);
        const xs = a + <usize>(s * 256);
        const yd = f32x4.splat(load<f32>(ad + (<usize>s << 2)));
        const d = f32x4.mul(v128.load(m), yd), dm = f32x4.mul(v128.load(m, 16), yd);
        const b16 = bs + <usize>(s * 32);
        const b0 = v128.load(b16), b1 = v128.load(b16, 16);
        const ml0 = q2kMins(m + 32, 0, b0), ml1 = q2kMins(m + 48, 0, b0), ml2 = q2kMins(m + 64, 0, b0), ml3 = q2kMins(m + 80, 0, b0);
        const mh0 = q2kMins(m + 32, 1, b1), mh1 = q2kMins(m + 48, 1, b1), mh2 = q2kMins(m + 64, 1, b1), mh3 = q2kMins(m + 80, 1, b1);
        let L0 = ZERO, L1 = ZERO, L2 = ZERO, L3 = ZERO, H0 = ZERO, H1 = ZERO, H2 = ZERO, H3 = ZERO;
        for (let n = 0; n < 2; n++) {
          for (let j = 0; j < 4; j++) {
            const xp = xs + <usize>(n * 128 + j * 32);
            const x0 = v128.load(xp), x1 = v128.load(xp, 16);
            const sc = m + 32 + <usize>(n * 8 + j * 2);
            const q = p + <usize>(n * 32);
            L0 = q2kHalf(v128.load(q), j, x0, sc, L0, m3); H0 = q2kHalf(v128.load(q, 16), j, x1, sc + 1, H0, m3);
            L1 = q2kHalf(v128.load(q, 64), j, x0, sc + 16, L1, m3); H1 = q2kHalf(v128.load(q, 80), j, x1, sc + 17, H1, m3);
            L2 = q2kHalf(v128.load(q, 128), j, x0, sc + 32, L2, m3); H2 = q2kHalf(v128.load(q, 144), j, x1, sc + 33, H2, m3);
            L3 = q2kHalf(v128.load(q, 192), j, x0, sc + 48, L3, m3); H3 = q2kHalf(v128.load(q, 208), j, x1, sc + 49, H3, m3);
          }
          if (gemm) {
            // ggml_gemm_q2_K: one fma pair per 128 values; A0 holds acc, B0 accMin (row lanes).
            A0 = fmaVF(A0, d, reduce4(i32x4.add(L0, H0), i32x4.add(L1, H1), i32x4.add(L2, H2), i32x4.add(L3, H3)));
            B0 = fmaVF(B0, dm, n == 0 ? reduce4(ml0, ml1, ml2, ml3) : reduce4(mh0, mh1, mh2, mh3));
            L0 = L1 = L2 = L3 = H0 = H1 = H2 = H3 = ZERO;
          }
        }
        if (gemm) continue;
        if (repack) {
          A0 = fmaVF(A0, d, reduce4(i32x4.add(L0, H0), i32x4.add(L1, H1), i32x4.add(L2, H2), i32x4.add(L3, H3)));
          B0 = fmaVF(B0, dm, reduce4(i32x4.add(ml0, mh0), i32x4.add(ml1, mh1), i32x4.add(ml2, mh2), i32x4.add(ml3, mh3)));
          continue;
        }
        // ggml_vec_dot_q2_K_q8_K: the min terms go into the same lanes first (with −dmin).
        const nm = f32x4.neg(dm);
        A0 = fmaSI(A0, splatLane(nm, 0), ml0); B0 = fmaSI(B0, splatLane(nm, 0), mh0);
        A1 = fmaSI(A1, splatLane(nm, 1), ml1); B1 = fmaSI(B1, splatLane(nm, 1), mh1);
        A2 = fmaSI(A2, splatLane(nm, 2), ml2); B2 = fmaSI(B2, splatLane(nm, 2), mh2);
        A3 = fmaSI(A3, splatLane(nm, 3), ml3); B3 = fmaSI(B3, splatLane(nm, 3), mh3);
        const d0 = splatLane(d, 0), d1 = splatLane(d, 1), d2 = splatLane(d, 2), d3 = splatLane(d, 3);
        A0 = fmaSF(A0, d0, L0); B0 = fmaSF(B0, d0, H0);
        A1 = fmaSF(A1, d1, L1); B1 = fmaSF(B1, d1, H1);
        A2 = fmaSF(A2, d2, L2); B2 = fmaSF(B2, d2, H2);
        A3 = fmaSF(A3, d3, L3); B3 = fmaSF(B3, d3, H3);
      }
      const res = repack ? f32x4.sub(A0, B0)
        : reduce4f(f32x4.add(A0, B0), f32x4.add(A1, B1), f32x4.add(A2, B2), f32x4.add(A3, B3));
      storeLanes(out + ((<usize>t * <usize>rows + <usize>(g * 4)) << 2), res, valid);
    }
  }
}

// ---- IQ4_XS: nibbles index a signed table, products on i16 against the widened activations.

// @ts-ignore: decorator
@inline
function iq4Half(q: usize, half: i32, x16: usize, m4: v128, tab: v128): v128 {
  const b = v128.load(q);
  const w = i8x16.swizzle(tab, half == 0 ? v128.and(b, m4) : hiNib(b, m4));
  const xa = x16 + <usize>(half * 32);
  return i32x4.add(i32x4.dot_i16x8_s(i16x8.extend_low_i8x16_s(w), v128.load(xa)), i32x4.dot_i16x8_s(i16x8.extend_high_i8x16_s(w), v128.load(xa, 16)));
}

export function mmIQ4_XS(wq: usize, ws: usize, cols: i32, rows: i32, g0: i32, g1: i32, act: usize, actStride: i32, nTok: i32, out: usize, mode: i32): void {
  const nsb = cols / 256;
  const iqp = mode == MODE_IQP;
  const m4 = keepI8(0x0f, rows >> 31);
  const tab = keepV(i8x16(-127, -104, -83, -65, -49, -35, -22, -10, 1, 13, 25, 38, 53, 69, 89, 113), rows >> 31);
  const zero = f32x4.splat(0);
  for (let g = g0; g < g1; g++) {
    const gq = wq + <usize>g * <usize>nsb * 512;
    const gm = ws + <usize>g * <usize>nsb * 48;
    const valid = min<i32>(4, rows - g * 4);
    for (let t = 0; t < nTok; t++) {
      const a = act + <usize>t * <usize>actStride;
      const a16 = a + <usize>cols;
      const ad = a + <usize>(3 * cols);
      let A0 = zero, A1 = zero, A2 = zero, A3 = zero, B0 = zero, B1 = zero, B2 = zero, B3 = zero;
      for (let s = 0; s < nsb; s++) {
        const p = gq + <usize>(s * 512);
        const m = gm + <usize>(s * 48);
        let L0 = ZERO, L1 = ZERO, L2 = ZERO, L3 = ZERO, H0 = ZERO, H1 = ZERO, H2 = ZERO, H3 = ZERO;
        for (let ib = 0; ib < 8; ib++) {
          const x16 = a16 + <usize>((s * 256 + ib * 32) * 2);
          const pq = p + <usize>(ib * 16);
          const ls = m + 16 + <usize>ib;
          const s0 = i32x4.splat(<i32>load<i8>(ls)), s1 = i32x4.splat(<i32>load<i8>(ls, 8));
          const s2 = i32x4.splat(<i32>load<i8>(ls, 16)), s3 = i32x4.splat(<i32>load<i8>(ls, 24));
          L0 = i32x4.add(L0, i32x4.mul(iq4Half(pq, 0, x16, m4, tab), s0)); H0 = i32x4.add(H0, i32x4.mul(iq4Half(pq, 1, x16, m4, tab), s0));
          L1 = i32x4.add(L1, i32x4.mul(iq4Half(pq + 128, 0, x16, m4, tab), s1)); H1 = i32x4.add(H1, i32x4.mul(iq4Half(pq + 128, 1, x16, m4, tab), s1));
          L2 = i32x4.add(L2, i32x4.mul(iq4Half(pq + 256, 0, x16, m4, tab), s2)); H2 = i32x4.add(H2, i32x4.mul(iq4Half(pq + 256, 1, x16, m4, tab), s2));
          L3 = i32x4.add(L3, i32x4.mul(iq4Half(pq + 384, 0, x16, m4, tab), s3)); H3 = i32x4.add(H3, i32x4.mul(iq4Half(pq + 384, 1, x16, m4, tab), s3));
        }
        const d = f32x4.mul(v128.load(m), f32x4.splat(load<f32>(ad + (<usize>s << 2))));
        if (iqp) {
          A0 = fmaVF(A0, d, reduce4(i32x4.add(L0, H0), i32x4.add(L1, H1), i32x4.add(L2, H2), i32x4.add(L3, H3)));
          continue;
        }
        const d0 = splatLane(d, 0), d1 = splatLane(d, 1), d2 = splatLane(d, 2), d3 = splatLane(d, 3);
        A0 = fmaSF(A0, d0, L0); B0 = fmaSF(B0, d0, H0);
        A1 = fmaSF(A1, d1, L1); B1 = fmaSF(B1, d1, H1);
        A2 = fmaSF(A2, d2, L2); B2 = fmaSF(B2, d2, H2);
        A3 = fmaSF(A3, d3, L3); B3 = fmaSF(B3, d3, H3);
      }
      const res = iqp ? A0 : reduce4f(f32x4.add(A0, B0), f32x4.add(A1, B1), f32x4.add(A2, B2), f32x4.add(A3, B3));
      storeLanes(out + ((<usize>t * <usize>rows + <usize>(g * 4)) << 2), res, valid);
    }
  }
}
