// Quantized matrix × activations for the 32-value block types (Q8_0, Q4_0, Q4_1, Q5_0, Q5_1,
// IQ4_NL). Weights are repacked at load (repack.ts): rows in groups of 4, the 4 rows' quants of
// one block side by side (Q4_0: interleaved 4 bytes at a time, see q4Sums), scales in a separate
// array (f32; Q4_0 and Q8_0 keep the file's f16, so their repacked weights are the file's size).
// A group's weights stay in L1 while every token of the batch streams past them. Each kernel
// computes row groups [g0, g1) for all nTok tokens: out[t*rows + r].
//
// The integer block sums are exact; the f32 arithmetic around them is llama.cpp's, as the
// reference spells it out (src/backend/ref/vecdot.ts): `mode` says which of its kernels the
// product stands for. MODE_VEC (ggml_vec_dot_*, and tinyBLAS_Q0 which computes the same) keeps
// eight f32 lanes per output, lane k = fma(d_w·d_x, Σ of elements 4k..4k+3, lane k) per block,
// summed by hsum8 at the end. MODE_REPACK (the CPU_REPACK gemv/gemm of Q4_0 and IQ4_NL when
// rows % 8 = 0) keeps one accumulator per output, fma(block sum, d_w·d_x, acc). The fused
// multiply-adds are emulated in f64 (exact.ts). `mode` = kind | (tokens that run gemm) << 4: the
// repacked K kernels (matmul-k.ts) add per 64/128 values for tokens in whole groups of 4.

import { reduce4, reduce4f, storeLanes, dotI8U7, dot2I8U7k, keepI8, keepI16, keepV, pairs8, touchQ4, sinkTouch, f16x4, f16s, f16Keep, f16Scale } from "./util";
import { fmaSI, fmaVF, splatLane, splatS, hsum8, tr4 } from "./exact";

export const MODE_VEC = 0, MODE_REPACK = 1, MODE_TINY = 2, MODE_IQP = 3;

/** High nibbles of 16 bytes. x64 has no byte shifts (V8 emulates i8x16.shr_u with several
 * instructions), so shift 16-bit lanes and mask off what crossed from the neighbouring byte. */
// @ts-ignore: decorator
@inline
export function hiNib(w: v128, m4: v128): v128 {
  return v128.and(i16x8.shr_u(w, 4), m4);
}

// ---- families of 32-value blocks (Q8_0 has its own kernel, mmQ8_0), their repacked sizes per
// (group of 4 rows, block)
const F_Q4_0 = 1, F_Q4_1 = 2, F_Q5_0 = 3, F_Q5_1 = 4, F_IQ4_NL = 5;

// @ts-ignore: decorator
@inline
function qBytes(fam: i32): usize { return fam == F_Q5_0 || fam == F_Q5_1 ? 80 : 64; }
// @ts-ignore: decorator
@inline
function sBytes(fam: i32): usize { return fam == F_Q4_1 || fam == F_Q5_1 ? 32 : fam == F_Q4_0 ? 8 : 16; }
/**
 * The four rows' scales of a block as f32. Q4_0 keeps them as the file's f16 (decode reads 72
 * bytes per 4 rows × 32 values instead of 80 with f32 scales); hk, hs: f16Keep, f16Scale.
 */
// @ts-ignore: decorator
@inline
function scales4(fam: i32, sp: usize, hk: v128, hs: v128): v128 {
  return fam == F_Q4_0 ? f16x4(sp, hk, hs) : v128.load(sp);
}

// @ts-ignore: decorator
@inline
function hasMin(fam: i32): bool { return fam == F_Q4_1 || fam == F_Q5_1; }
// @ts-ignore: decorator
@inline
function wide(fam: i32): bool { return fam == F_IQ4_NL; }

// @ts-ignore: decorator
@inline
function iq4Table(): v128 {
  return i8x16(-127, -104, -83, -65, -49, -35, -22, -10, 1, 13, 25, 38, 53, 69, 89, 113);
}

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

/** Unsigned weight values (0..31) of elements 16·half .. 16·half+15 of row r's block at q. */
// @ts-ignore: decorator
@inline
function nibbles(fam: i32, q: usize, r: i32, half: i32, m4: v128): v128 {
  // Q4_0 interleaves its rows 4 bytes at a time (q4Repack): row r's 16 bytes are lane r of each vector.
  const w = fam == F_Q4_0 ? tr4(v128.load(q), v128.load(q, 16), v128.load(q, 32), v128.load(q, 48), r) : v128.load(q + <usize>(r * 16));
  let v = half == 0 ? v128.and(w, m4) : hiNib(w, m4);
  if (fam == F_Q5_0 || fam == F_Q5_1) v = v128.or(v, highBits(load<u32>(q + 64 + <usize>(r * 4)), half == 1));
  return v;
}

/**
 * The i32 lanes (sums of 4 consecutive products) of row r's block for elements 16·half.. +15:
 * lane k of the result is llama.cpp's int lane 4·half + k. `x` holds those 16 i8 activations,
 * `bias` their pair sums times the weight offset (8 or 16; zero for types with a min), `x16`
 * the block's activations widened to i16 (for the signed weight types).
 */
// @ts-ignore: decorator
@inline
function lanes32(fam: i32, q: usize, r: i32, half: i32, x: v128, bias: v128, x16: usize, m4: v128, ones: v128, tab: v128): v128 {
  if (fam == F_IQ4_NL) {
    const b = v128.load(q + <usize>(r * 16));
    const w = i8x16.swizzle(tab, half == 0 ? v128.and(b, m4) : hiNib(b, m4));
    const xa = x16 + <usize>(half * 32);
    // slot16 order (util.ts): the two pair-sum vectors add up to the lanes.
    return i32x4.add(i32x4.dot_i16x8_s(i16x8.extend_low_i8x16_s(w), v128.load(xa)), i32x4.dot_i16x8_s(i16x8.extend_high_i8x16_s(w), v128.load(xa, 16)));
  }
  const p = dotI8U7(x, nibbles(fam, q, r, half, m4));
  // Q5_1 measured 9% slower with `ones` held in a register (one more live vector in vec32).
  if (fam == F_Q5_1) return i32x4.extadd_pairwise_i16x8_s(p);
  return i32x4.dot_i16x8_s(fam == F_Q4_1 ? p : i16x8.sub(p, bias), ones);
}

/** Signed block sum of row r (all 32 elements) for the repacked kernels. */
// @ts-ignore: decorator
@inline
function rowSum(fam: i32, q: usize, r: i32, xl: v128, xh: v128, x16: usize, m4: v128, ones: v128, tab: v128): v128 {
  if (wide(fam)) return i32x4.add(lanes32(fam, q, r, 0, xl, xl, x16, m4, ones, tab), lanes32(fam, q, r, 1, xh, xh, x16, m4, ones, tab));
  return dot2I8U7k(xl, nibbles(fam, q, r, 0, m4), xh, nibbles(fam, q, r, 1, m4), ones);
}

/**
 * MODE_VEC / MODE_TINY for every family: eight lanes per output. `dual` is ggml_vec_dot_iq4_nl's
 * one-token shape: even and odd blocks in two lane sets added before hsum8, an odd last block
 * added to the sum as fma(d, block sum, sum).
 */
// @ts-ignore: decorator
@inline
function vec32(fam: i32, dual: bool, wq: usize, ws: usize, cols: i32, rows: i32, g0: i32, g1: i32, act: usize, actStride: i32, nTok: i32, out: usize): void {
  const nb = cols / 32;
  const qb = qBytes(fam), sb = sBytes(fam);
  const off = fam == F_Q4_0 ? 3 : 4; // bias shift: weight offset 8 or 16
  const zero = f32x4.splat(0);
  const m4 = keepI8(0x0f, rows >> 31), ones = keepI16(1, rows >> 31), ones8 = keepI8(1, rows >> 31);
  const tab = keepV(iq4Table(), rows >> 31);
  const hk = f16Keep(rows >> 31), hs = f16Scale(rows >> 31);
  for (let g = g0; g < g1; g++) {
    const gq = wq + <usize>g * <usize>nb * qb;
    const gs = ws + <usize>g * <usize>nb * sb;
    const valid = min<i32>(4, rows - g * 4);
    for (let t = 0; t < nTok; t++) {
      const a = act + <usize>t * <usize>actStride;
      const ad = a + <usize>(3 * cols);
      const a1 = ad + <usize>(8 * nb);
      let A0 = zero, A1 = zero, A2 = zero, A3 = zero, B0 = zero, B1 = zero, B2 = zero, B3 = zero;
      let C0 = zero, C1 = zero, C2 = zero, C3 = zero, D0 = zero, D1 = zero, D2 = zero, D3 = zero;
      let summs = zero;
      const step = dual ? 2 : 1;
      let b = 0;
      for (; b + step <= nb; b += step) {
        for (let k = 0; k < step; k++) {
          const bb = b + k;
          const q = gq + <usize>bb * qb, sp = gs + <usize>bb * sb;
          const x16 = a + <usize>cols + <usize>(bb * 64);
          const xl = v128.load(a + <usize>(bb * 32)), xh = v128.load(a + <usize>(bb * 32), 16);
          const bl = i16x8.shl(pairs8(xl, ones8), off), bh = i16x8.shl(pairs8(xh, ones8), off);
          const d = f32x4.mul(scales4(fam, sp, hk, hs), f32x4.splat(load<f32>(ad + (<usize>bb << 2))));
          const d0 = splatLane(d, 0), d1 = splatLane(d, 1), d2 = splatLane(d, 2), d3 = splatLane(d, 3);
          if (k == 0) {
            A0 = fmaSI(A0, d0, lanes32(fam, q, 0, 0, xl, bl, x16, m4, ones, tab)); B0 = fmaSI(B0, d0, lanes32(fam, q, 0, 1, xh, bh, x16, m4, ones, tab));
            A1 = fmaSI(A1, d1, lanes32(fam, q, 1, 0, xl, bl, x16, m4, ones, tab)); B1 = fmaSI(B1, d1, lanes32(fam, q, 1, 1, xh, bh, x16, m4, ones, tab));
            A2 = fmaSI(A2, d2, lanes32(fam, q, 2, 0, xl, bl, x16, m4, ones, tab)); B2 = fmaSI(B2, d2, lanes32(fam, q, 2, 1, xh, bh, x16, m4, ones, tab));
            A3 = fmaSI(A3, d3, lanes32(fam, q, 3, 0, xl, bl, x16, m4, ones, tab)); B3 = fmaSI(B3, d3, lanes32(fam, q, 3, 1, xh, bh, x16, m4, ones, tab));
          } else {
            C0 = fmaSI(C0, d0, lanes32(fam, q, 0, 0, xl, bl, x16, m4, ones, tab)); D0 = fmaSI(D0, d0, lanes32(fam, q, 0, 1, xh, bh, x16, m4, ones, tab));
            C1 = fmaSI(C1, d1, lanes32(fam, q, 1, 0, xl, bl, x16, m4, ones, tab)); D1 = fmaSI(D1, d1, lanes32(fam, q, 1, 1, xh, bh, x16, m4, ones, tab));
            C2 = fmaSI(C2, d2, lanes32(fam, q, 2, 0, xl, bl, x16, m4, ones, tab)); D2 = fmaSI(D2, d2, lanes32(fam, q, 2, 1, xh, bh, x16, m4, ones, tab));
            C3 = fmaSI(C3, d3, lanes32(fam, q, 3, 0, xl, bl, x16, m4, ones, tab)); D3 = fmaSI(D3, d3, lanes32(fam, q, 3, 1, xh, bh, x16, m4, ones, tab));
          }
          // Q4_1/Q5_1: Σ m_w·s_x apart (both f16 values, so the product is exact in f32).
          if (hasMin(fam)) summs = f32x4.add(summs, f32x4.mul(v128.load(sp, 16), f32x4.splat(load<f32>(a1 + (<usize>bb << 2)))));
        }
      }
      if (dual) {
        A0 = f32x4.add(A0, C0); A1 = f32x4.add(A1, C1); A2 = f32x4.add(A2, C2); A3 = f32x4.add(A3, C3);
        B0 = f32x4.add(B0, D0); B1 = f32x4.add(B1, D1); B2 = f32x4.add(B2, D2); B3 = f32x4.add(B3, D3);
      }
      let res = reduce4f(f32x4.add(A0, B0), f32x4.add(A1, B1), f32x4.add(A2, B2), f32x4.add(A3, B3));
      if (hasMin(fam)) res = f32x4.add(res, summs);
      if (dual && b < nb) {
        const q = gq + <usize>b * qb;
        const x16 = a + <usize>cols + <usize>(b * 64);
        const d = f32x4.mul(scales4(fam, gs + <usize>b * sb, hk, hs), f32x4.splat(load<f32>(ad + (<usize>b << 2))));
        const xl = v128.load(a + <usize>(b * 32)), xh = v128.load(a + <usize>(b * 32), 16);
        const tot = reduce4(rowSum(fam, q, 0, xl, xh, x16, m4, ones, tab), rowSum(fam, q, 1, xl, xh, x16, m4, ones, tab), rowSum(fam, q, 2, xl, xh, x16, m4, ones, tab), rowSum(fam, q, 3, xl, xh, x16, m4, ones, tab));
        res = fmaVF(res, d, tot);
      }
      storeLanes(out + ((<usize>t * <usize>rows + <usize>(g * 4)) << 2), res, valid);
    }
  }
}

/**
 * MODE_REPACK (IQ4_NL): acc_r = fma(block sum_r, d_w·d_x, acc_r), one token at a time.
 */
// @ts-ignore: decorator
@inline
function repack32(fam: i32, wq: usize, ws: usize, cols: i32, rows: i32, g0: i32, g1: i32, act: usize, actStride: i32, nTok: i32, out: usize): void {
  const nb = cols / 32;
  const sb = sBytes(fam);
  const m4 = keepI8(0x0f, rows >> 31), ones = keepI16(1, rows >> 31);
  const tab = keepV(iq4Table(), rows >> 31);
  for (let g = g0; g < g1; g++) {
    const gq = wq + <usize>g * <usize>nb * 64;
    const gs = ws + <usize>g * <usize>nb * sb;
    const valid = min<i32>(4, rows - g * 4);
    for (let t = 0; t < nTok; t++) {
      const a = act + <usize>t * <usize>actStride;
      const ad = a + <usize>(3 * cols);
      let acc = f32x4.splat(0);
      // Running pointers: V8 keeps them in registers; indices would cost a shift and an add per stream.
      let xp = a, p = gq, x16 = a + <usize>cols, sp = gs, dp = ad;
      for (let b = 0; b < nb; b++) {
        const xl = v128.load(xp), xh = v128.load(xp, 16);
        const tot = reduce4(rowSum(fam, p, 0, xl, xh, x16, m4, ones, tab), rowSum(fam, p, 1, xl, xh, x16, m4, ones, tab), rowSum(fam, p, 2, xl, xh, x16, m4, ones, tab), rowSum(fam, p, 3, xl, xh, x16, m4, ones, tab));
        acc = fmaVF(acc, f32x4.mul(v128.load(sp), v128.load32_splat(dp)), tot);
        xp += 32; p += 64; x16 += 64; sp += sb; dp += 4;
      }
      storeLanes(out + ((<usize>t * <usize>rows + <usize>(g * 4)) << 2), acc, valid);
    }
  }
}

/**
 * Block sums (lane r = row r, unsigned nibbles) of a Q4_0 group from its unpacked quants: lo_k /
 * hi_k hold elements 4k..4k+3 / 16+4k..16+4k+3 of each row (4 bytes per row, repack.ts), so one
 * broadcast of 4 activations and one dot give every row's products; the eight i16 sums (at most
 * 8·15·127) are added and widened once. No cross-lane folding, unlike a row-per-vector layout.
 */
// @ts-ignore: decorator
@inline
function q4Sums(x: usize, l0: v128, l1: v128, l2: v128, l3: v128, h0: v128, h1: v128, h2: v128, h3: v128, ones: v128): v128 {
  const lo = i16x8.add(i16x8.add(dotI8U7(v128.load32_splat(x), l0), dotI8U7(v128.load32_splat(x, 4), l1)),
    i16x8.add(dotI8U7(v128.load32_splat(x, 8), l2), dotI8U7(v128.load32_splat(x, 12), l3)));
  const hi = i16x8.add(i16x8.add(dotI8U7(v128.load32_splat(x, 16), h0), dotI8U7(v128.load32_splat(x, 20), h1)),
    i16x8.add(dotI8U7(v128.load32_splat(x, 24), h2), dotI8U7(v128.load32_splat(x, 28), h3)));
  return i32x4.dot_i16x8_s(i16x8.add(lo, hi), ones);
}

/** acc ← fma(Σ − 8·Σx, d_w·d_x, acc) for one token's block (Q4_0's offset of 8 taken off the unsigned sum). */
// @ts-ignore: decorator
@inline
function q4Acc(acc: v128, sums: v128, sc: v128, ad: usize, bo: usize, nb: i32): v128 {
  const t = i32x4.sub(sums, i32x4.shl(v128.load32_splat(ad + <usize>(4 * nb) + bo), 3));
  return fmaVF(acc, f32x4.mul(sc, v128.load32_splat(ad + bo)), t);
}

/**
 * MODE_REPACK Q4_0 (ggml_gemv/gemm_q4_0_8x8_q8_0): acc_r = fma(block sum_r, d_w·d_x, acc_r) per
 * block. Tokens in fours (then a pair, then one) share each weight load and unpack; a lone token
 * (decode) also touches its weight streams ahead (util.ts touchQ4).
 */
function q4Repack(wq: usize, ws: usize, cols: i32, rows: i32, g0: i32, g1: i32, act: usize, actStride: i32, nTok: i32, out: usize): void {
  let touched: u32 = 0;
  for (let g = g0; g < g1; g++) {
    let t = 0;
    for (; t + 4 <= nTok; t += 4) q4Tokens(4, wq, ws, cols, rows, g, act, actStride, t, out);
    for (; t + 2 <= nTok; t += 2) q4Tokens(2, wq, ws, cols, rows, g, act, actStride, t, out);
    if (t < nTok) touched |= q4Tokens(1, wq, ws, cols, rows, g, act, actStride, t, out);
  }
  sinkTouch(touched, out);
}

/** `n` (a constant after inlining: 1, 2 or 4) tokens from t on, over row group g; returns the touch bits. */
// @ts-ignore: decorator
@inline
function q4Tokens(n: i32, wq: usize, ws: usize, cols: i32, rows: i32, g: i32, act: usize, actStride: i32, t: i32, out: usize): u32 {
  const nb = cols / 32;
  const hk = f16Keep(rows >> 31), hs = f16Scale(rows >> 31);
  const m4 = keepI8(0x0f, rows >> 31), ones = keepI16(1, rows >> 31);
  const zero = f32x4.splat(0);
  let touched: u32 = 0;
  const a0 = act + <usize>t * <usize>actStride, a1 = a0 + <usize>actStride, a2 = a1 + <usize>actStride, a3 = a2 + <usize>actStride;
  const d0 = a0 + <usize>(3 * cols), d1 = a1 + <usize>(3 * cols), d2 = a2 + <usize>(3 * cols), d3 = a3 + <usize>(3 * cols);
  let c0 = zero, c1 = zero, c2 = zero, c3 = zero;
  let p = wq + <usize>g * <usize>nb * 64, sp = ws + <usize>g * <usize>nb * 8;
  for (let b = 0; b < nb; b++) {
    if (n == 1) touched |= touchQ4(p, sp);
    const w0 = v128.load(p), w1 = v128.load(p, 16), w2 = v128.load(p, 32), w3 = v128.load(p, 48);
    const l0 = v128.and(w0, m4), l1 = v128.and(w1, m4), l2 = v128.and(w2, m4), l3 = v128.and(w3, m4);
    const h0 = hiNib(w0, m4), h1 = hiNib(w1, m4), h2 = hiNib(w2, m4), h3 = hiNib(w3, m4);
    const sc = f16x4(sp, hk, hs);
    const xo = <usize>(b * 32), bo = <usize>(b * 4);
    c0 = q4Acc(c0, q4Sums(a0 + xo, l0, l1, l2, l3, h0, h1, h2, h3, ones), sc, d0, bo, nb);
    if (n >= 2) c1 = q4Acc(c1, q4Sums(a1 + xo, l0, l1, l2, l3, h0, h1, h2, h3, ones), sc, d1, bo, nb);
    if (n == 4) {
      c2 = q4Acc(c2, q4Sums(a2 + xo, l0, l1, l2, l3, h0, h1, h2, h3, ones), sc, d2, bo, nb);
      c3 = q4Acc(c3, q4Sums(a3 + xo, l0, l1, l2, l3, h0, h1, h2, h3, ones), sc, d3, bo, nb);
    }
    p += 64; sp += 8;
  }
  const o = out + (<usize>(g * 4) << 2), rowBytes = <usize>rows << 2;
  const valid = min<i32>(4, rows - g * 4);
  storeLanes(o + <usize>t * rowBytes, c0, valid);
  if (n >= 2) storeLanes(o + <usize>(t + 1) * rowBytes, c1, valid);
  if (n == 4) {
    storeLanes(o + <usize>(t + 2) * rowBytes, c2, valid);
    storeLanes(o + <usize>(t + 3) * rowBytes, c3, valid);
  }
  return touched;
}

/**
 * Q8_0 (ggml_vec_dot_q8_0_q8_0 / tinyBLAS_Q0, eight lanes). Token pairs one row at a time, so
 * the lane accumulators of a row and two tokens stay in registers and share the widened weights.
 */
export function mmQ8_0(wq: usize, ws: usize, cols: i32, rows: i32, g0: i32, g1: i32, act: usize, actStride: i32, nTok: i32, out: usize, mode: i32): void {
  const nb = cols / 32;
  const zero = f32x4.splat(0);
  for (let g = g0; g < g1; g++) {
    const gq = wq + <usize>g * <usize>nb * 128;
    const gs = ws + <usize>g * <usize>nb * 8;
    const valid = min<i32>(4, rows - g * 4);
    for (let r = 0; r < valid; r++) {
      const R = g * 4 + r;
      let t = 0;
      // Four tokens per pass: the row's widened weights serve four tokens' lanes (eight accumulators).
      for (; t + 4 <= nTok; t += 4) {
        const a0 = act + <usize>t * <usize>actStride, a1 = a0 + <usize>actStride, a2 = a1 + <usize>actStride, a3 = a2 + <usize>actStride;
        const d0p = a0 + <usize>(3 * cols), d1p = a1 + <usize>(3 * cols), d2p = a2 + <usize>(3 * cols), d3p = a3 + <usize>(3 * cols);
        let x0 = a0 + <usize>cols, x1 = a1 + <usize>cols, x2 = a2 + <usize>cols, x3 = a3 + <usize>cols;
        let q = gq + <usize>(r * 32), sp = gs + <usize>(r * 2);
        let p0 = zero, q0 = zero, p1 = zero, q1 = zero, p2 = zero, q2 = zero, p3 = zero, q3 = zero;
        for (let b = 0; b < nb; b++) {
          const e0 = v128.load8x8_s(q), e1 = v128.load8x8_s(q, 8);
          const e2 = v128.load8x8_s(q, 16), e3 = v128.load8x8_s(q, 24);
          const dw = f16s(sp);
          const bo = <usize>b << 2;
          let d = splatS(dw * load<f32>(d0p + bo));
          p0 = fmaSI(p0, d, i32x4.add(i32x4.dot_i16x8_s(e0, v128.load(x0)), i32x4.dot_i16x8_s(e1, v128.load(x0, 16))));
          q0 = fmaSI(q0, d, i32x4.add(i32x4.dot_i16x8_s(e2, v128.load(x0, 32)), i32x4.dot_i16x8_s(e3, v128.load(x0, 48))));
          d = splatS(dw * load<f32>(d1p + bo));
          p1 = fmaSI(p1, d, i32x4.add(i32x4.dot_i16x8_s(e0, v128.load(x1)), i32x4.dot_i16x8_s(e1, v128.load(x1, 16))));
          q1 = fmaSI(q1, d, i32x4.add(i32x4.dot_i16x8_s(e2, v128.load(x1, 32)), i32x4.dot_i16x8_s(e3, v128.load(x1, 48))));
          d = splatS(dw * load<f32>(d2p + bo));
          p2 = fmaSI(p2, d, i32x4.add(i32x4.dot_i16x8_s(e0, v128.load(x2)), i32x4.dot_i16x8_s(e1, v128.load(x2, 16))));
          q2 = fmaSI(q2, d, i32x4.add(i32x4.dot_i16x8_s(e2, v128.load(x2, 32)), i32x4.dot_i16x8_s(e3, v128.load(x2, 48))));
          d = splatS(dw * load<f32>(d3p + bo));
          p3 = fmaSI(p3, d, i32x4.add(i32x4.dot_i16x8_s(e0, v128.load(x3)), i32x4.dot_i16x8_s(e1, v128.load(x3, 16))));
          q3 = fmaSI(q3, d, i32x4.add(i32x4.dot_i16x8_s(e2, v128.load(x3, 32)), i32x4.dot_i16x8_s(e3, v128.load(x3, 48))));
          q += 128; sp += 8; x0 += 64; x1 += 64; x2 += 64; x3 += 64;
        }
        store<f32>(out + ((<usize>t * <usize>rows + <usize>R) << 2), hsum8(p0, q0));
        store<f32>(out + ((<usize>(t + 1) * <usize>rows + <usize>R) << 2), hsum8(p1, q1));
        store<f32>(out + ((<usize>(t + 2) * <usize>rows + <usize>R) << 2), hsum8(p2, q2));
        store<f32>(out + ((<usize>(t + 3) * <usize>rows + <usize>R) << 2), hsum8(p3, q3));
      }
      for (; t + 2 <= nTok; t += 2) {
        const a = act + <usize>t * <usize>actStride, a2 = a + <usize>actStride;
        const ad = a + <usize>(3 * cols), ad2 = a2 + <usize>(3 * cols);
        let xa = zero, xb = zero, ya = zero, yb = zero;
        for (let b = 0; b < nb; b++) {
          const q = gq + <usize>(b * 128 + r * 32);
          // load8x8_s is one pmovsxbw from memory; extend_high of a loaded vector takes three instructions.
          const e0 = v128.load8x8_s(q), e1 = v128.load8x8_s(q, 8);
          const e2 = v128.load8x8_s(q, 16), e3 = v128.load8x8_s(q, 24);
          const x16 = a + <usize>cols + <usize>(b * 64), y16 = a2 + <usize>cols + <usize>(b * 64);
          const dw = f16s(gs + <usize>(b * 8 + r * 2));
          const dx = splatS(dw * load<f32>(ad + (<usize>b << 2))), dy = splatS(dw * load<f32>(ad2 + (<usize>b << 2)));
          xa = fmaSI(xa, dx, i32x4.add(i32x4.dot_i16x8_s(e0, v128.load(x16)), i32x4.dot_i16x8_s(e1, v128.load(x16, 16))));
          xb = fmaSI(xb, dx, i32x4.add(i32x4.dot_i16x8_s(e2, v128.load(x16, 32)), i32x4.dot_i16x8_s(e3, v128.load(x16, 48))));
          ya = fmaSI(ya, dy, i32x4.add(i32x4.dot_i16x8_s(e0, v128.load(y16)), i32x4.dot_i16x8_s(e1, v128.load(y16, 16))));
          yb = fmaSI(yb, dy, i32x4.add(i32x4.dot_i16x8_s(e2, v128.load(y16, 32)), i32x4.dot_i16x8_s(e3, v128.load(y16, 48))));
        }
        store<f32>(out + ((<usize>t * <usize>rows + <usize>R) << 2), hsum8(xa, xb));
        store<f32>(out + ((<usize>(t + 1) * <usize>rows + <usize>R) << 2), hsum8(ya, yb));
      }
    }
  }
  // A last odd token: the group's four rows in one sequential pass over its weights (the
  // prefetchers see one stream), lanes of all four in registers.
  if (!(nTok & 1)) return;
  const a = act + <usize>(nTok - 1) * <usize>actStride;
  const o = out + (<usize>(nTok - 1) * <usize>rows << 2);
  const ad = a + <usize>(3 * cols);
  const hk = f16Keep(rows >> 31), hs = f16Scale(rows >> 31);
  for (let g = g0; g < g1; g++) {
    const gq = wq + <usize>g * <usize>nb * 128;
    const gs = ws + <usize>g * <usize>nb * 8;
    const valid = min<i32>(4, rows - g * 4);
    let a0 = zero, b0 = zero, a1 = zero, b1 = zero, a2 = zero, b2 = zero, a3 = zero, b3 = zero;
    for (let b = 0; b < nb; b++) {
      const q = gq + <usize>(b * 128);
      const x16 = a + <usize>cols + <usize>(b * 64);
      const x0 = v128.load(x16), x1 = v128.load(x16, 16), x2 = v128.load(x16, 32), x3 = v128.load(x16, 48);
      const d = f32x4.mul(f16x4(gs + <usize>(b * 8), hk, hs), f32x4.splat(load<f32>(ad + (<usize>b << 2))));
      let dr = splatLane(d, 0);
      a0 = fmaSI(a0, dr, i32x4.add(i32x4.dot_i16x8_s(v128.load8x8_s(q), x0), i32x4.dot_i16x8_s(v128.load8x8_s(q, 8), x1)));
      b0 = fmaSI(b0, dr, i32x4.add(i32x4.dot_i16x8_s(v128.load8x8_s(q, 16), x2), i32x4.dot_i16x8_s(v128.load8x8_s(q, 24), x3)));
      dr = splatLane(d, 1);
      a1 = fmaSI(a1, dr, i32x4.add(i32x4.dot_i16x8_s(v128.load8x8_s(q, 32), x0), i32x4.dot_i16x8_s(v128.load8x8_s(q, 40), x1)));
      b1 = fmaSI(b1, dr, i32x4.add(i32x4.dot_i16x8_s(v128.load8x8_s(q, 48), x2), i32x4.dot_i16x8_s(v128.load8x8_s(q, 56), x3)));
      dr = splatLane(d, 2);
      a2 = fmaSI(a2, dr, i32x4.add(i32x4.dot_i16x8_s(v128.load8x8_s(q, 64), x0), i32x4.dot_i16x8_s(v128.load8x8_s(q, 72), x1)));
      b2 = fmaSI(b2, dr, i32x4.add(i32x4.dot_i16x8_s(v128.load8x8_s(q, 80), x2), i32x4.dot_i16x8_s(v128.load8x8_s(q, 88), x3)));
      dr = splatLane(d, 3);
      a3 = fmaSI(a3, dr, i32x4.add(i32x4.dot_i16x8_s(v128.load8x8_s(q, 96), x0), i32x4.dot_i16x8_s(v128.load8x8_s(q, 104), x1)));
      b3 = fmaSI(b3, dr, i32x4.add(i32x4.dot_i16x8_s(v128.load8x8_s(q, 112), x2), i32x4.dot_i16x8_s(v128.load8x8_s(q, 120), x3)));
    }
    const R = g * 4;
    store<f32>(o + (<usize>R << 2), hsum8(a0, b0));
    if (valid > 1) store<f32>(o + (<usize>(R + 1) << 2), hsum8(a1, b1));
    if (valid > 2) store<f32>(o + (<usize>(R + 2) << 2), hsum8(a2, b2));
    if (valid > 3) store<f32>(o + (<usize>(R + 3) << 2), hsum8(a3, b3));
  }
}
export function mmQ4_0(wq: usize, ws: usize, cols: i32, rows: i32, g0: i32, g1: i32, act: usize, actStride: i32, nTok: i32, out: usize, mode: i32): void {
  if ((mode & 15) == MODE_REPACK) q4Repack(wq, ws, cols, rows, g0, g1, act, actStride, nTok, out);
  else vec32(F_Q4_0, false, wq, ws, cols, rows, g0, g1, act, actStride, nTok, out);
}
export function mmQ4_1(wq: usize, ws: usize, cols: i32, rows: i32, g0: i32, g1: i32, act: usize, actStride: i32, nTok: i32, out: usize, mode: i32): void {
  vec32(F_Q4_1, false, wq, ws, cols, rows, g0, g1, act, actStride, nTok, out);
}
export function mmQ5_0(wq: usize, ws: usize, cols: i32, rows: i32, g0: i32, g1: i32, act: usize, actStride: i32, nTok: i32, out: usize, mode: i32): void {
  vec32(F_Q5_0, false, wq, ws, cols, rows, g0, g1, act, actStride, nTok, out);
}
export function mmQ5_1(wq: usize, ws: usize, cols: i32, rows: i32, g0: i32, g1: i32, act: usize, actStride: i32, nTok: i32, out: usize, mode: i32): void {
  vec32(F_Q5_1, false, wq, ws, cols, rows, g0, g1, act, actStride, nTok, out);
}
export function mmIQ4_NL(wq: usize, ws: usize, cols: i32, rows: i32, g0: i32, g1: i32, act: usize, actStride: i32, nTok: i32, out: usize, mode: i32): void {
  if ((mode & 15) == MODE_REPACK) repack32(F_IQ4_NL, wq, ws, cols, rows, g0, g1, act, actStride, nTok, out);
  else if ((mode & 15) == MODE_TINY) vec32(F_IQ4_NL, false, wq, ws, cols, rows, g0, g1, act, actStride, nTok, out);
  else vec32(F_IQ4_NL, true, wq, ws, cols, rows, g0, g1, act, actStride, nTok, out);
}
