// Attention as llama.cpp builds it without flash attention, the way the reference backend spells
// it out (src/backend/ref/index.ts, attentionRef): scores K·q over the cache's first nKv cells
// (masked cells −inf), softmax with ggml_v_expf on vectors of 16 cells and the vectors'
// _mm512_reduce_add_ps summed in double, then V·p. q and p are rounded to f16 for an f16 cache;
// both products run tinyBLAS (16 lanes) or ggml_vec_dot_f16/_f32 (64 lanes + tail) as llama.cpp
// picks. A cell's lane is its cache index, so probabilities live in a dense array over the nKv
// cells (masked ones 0, which add nothing to any lane). The query heads sharing a KV head are
// done together: each K and V row is widened from f16 once per group.

import { f32RoundF16, roundF16Pos4, keepV, f16x4, f16Keep, f16Scale } from "./util";
import { addExact, fmaVV, reduce16 } from "./exact";
import { loadS, loadW, tinyDot, vecDotF } from "./matmul-float";
import { vExpf, vexpV, ek, LOG2E, EXP_R, LN2_HI, LN2_LO, C5, C4, C3, C2, C1 } from "./ops";

/** flags bit 0: K·q on tinyBLAS; bit 1: V·p on tinyBLAS. */
export const ATTN_KQ_TINY = 1, ATTN_KQV_TINY = 2;

/**
 * acc[0..n) += p · v[0..n) with llama.cpp's rounding: f16 products exact, f32 ones fused. v is f32
 * (a widened row, or an f32 cache row), or with `half` the f16 cache row itself.
 */
// @ts-ignore: decorator
@inline
function axpy(f16: i32, half: bool, acc: usize, p: f32, v: usize, n: i32): void {
  const pv = f32x4.splat(p);
  const n4 = n & ~3;
  const keep = f16Keep(n >> 31), scale = f16Scale(n >> 31);
  let i = 0;
  // Sixteen values per iteration: the loop's counter and interrupt check cost as much as a vector.
  for (; i + 16 <= n4; i += 16) {
    axpy4(f16, half, acc, pv, v, i, keep, scale); axpy4(f16, half, acc, pv, v, i + 4, keep, scale);
    axpy4(f16, half, acc, pv, v, i + 8, keep, scale); axpy4(f16, half, acc, pv, v, i + 12, keep, scale);
  }
  for (; i < n4; i += 4) axpy4(f16, half, acc, pv, v, i, keep, scale);
  for (; i < n; i++) {
    const o = acc + (<usize>i << 2);
    const vs = half ? loadS(1, v, i) : load<f32>(v + (<usize>i << 2));
    store<f32>(o, f16 ? load<f32>(o) + p * vs : <f32>(<f64>p * <f64>vs + <f64>load<f32>(o)));
  }
}

/**
 * Scores of the unit's cells in fours: tinyBLAS (`tiny`, n a multiple of 16) or ggml_vec_dot_f16/_f32
 * (n = 64 or 128, a constant) over a head; K rows widened once for the group (read in place for
 * one head). Returns the cells done.
 */
// @ts-ignore: decorator
@inline
function scores4(f16: i32, group: i32, tiny: bool, n: i32, kBase: usize, kvWidth: i32, ce: usize, cnt: i32, qr: usize, row: usize, P0: usize, pStride: usize, scale: f64): i32 {
  const esz: usize = f16 ? 2 : 4, hb = <usize>n << 2;
  let c = 0;
  for (; c + 4 <= cnt; c += 4) {
    const e = ce + (<usize>c << 2);
    const e0 = load<i32>(e), e1 = load<i32>(e, 4), e2 = load<i32>(e, 8), e3 = load<i32>(e, 12);
    const k0 = kBase + <usize>(e0 * kvWidth) * esz, k1 = kBase + <usize>(e1 * kvWidth) * esz;
    const k2 = kBase + <usize>(e2 * kvWidth) * esz, k3 = kBase + <usize>(e3 * kvWidth) * esz;
    if (group == 1) {
      const kind = f16 ? 1 : 0;
      store4(P0, e0, e1, e2, e3, scale, fold4(dotAny(tiny, kind, k0, qr, n), dotAny(tiny, kind, k1, qr, n), dotAny(tiny, kind, k2, qr, n), dotAny(tiny, kind, k3, qr, n)));
      continue;
    }
    widen(f16, k0, n, row); widen(f16, k1, n, row + hb); widen(f16, k2, n, row + 2 * hb); widen(f16, k3, n, row + 3 * hb);
    const kind = f16 ? 3 : 0;
    for (let h = 0; h < group; h++) {
      const qh = qr + <usize>h * hb;
      store4(P0 + <usize>h * pStride, e0, e1, e2, e3, scale,
        fold4(dotAny(tiny, kind, row, qh, n), dotAny(tiny, kind, row + hb, qh, n), dotAny(tiny, kind, row + 2 * hb, qh, n), dotAny(tiny, kind, row + 3 * hb, qh, n)));
    }
  }
  return c;
}

/**
 * ggml_vec_dot_f16 / _f32 of w and x over n (64 or 128, a constant), up to its last two additions: the
 * 16 lane vectors (each summed over the 64-element chunks in order) folded as vecDotF folds them,
 * S_k = (v_k + v_{k+8}) + (v_{k+4} + v_{k+12}), then (S_0 + S_2) + (S_1 + S_3): reduce16's `u`.
 * One S at a time keeps four vectors live where vecDotF's loop holds sixteen. kind as loadW.
 */
// @ts-ignore: decorator
@inline
function dotU(kind: i32, w: usize, x: usize, n: i32): v128 {
  const keep = f16Keep(n >> 31), sc = f16Scale(n >> 31);
  const s0 = f32x4.add(f32x4.add(laneSum(kind, w, x, n, 0, keep, sc), laneSum(kind, w, x, n, 8, keep, sc)),
    f32x4.add(laneSum(kind, w, x, n, 4, keep, sc), laneSum(kind, w, x, n, 12, keep, sc)));
  const s1 = f32x4.add(f32x4.add(laneSum(kind, w, x, n, 1, keep, sc), laneSum(kind, w, x, n, 9, keep, sc)),
    f32x4.add(laneSum(kind, w, x, n, 5, keep, sc), laneSum(kind, w, x, n, 13, keep, sc)));
  const s2 = f32x4.add(f32x4.add(laneSum(kind, w, x, n, 2, keep, sc), laneSum(kind, w, x, n, 10, keep, sc)),
    f32x4.add(laneSum(kind, w, x, n, 6, keep, sc), laneSum(kind, w, x, n, 14, keep, sc)));
  const s3 = f32x4.add(f32x4.add(laneSum(kind, w, x, n, 3, keep, sc), laneSum(kind, w, x, n, 11, keep, sc)),
    f32x4.add(laneSum(kind, w, x, n, 7, keep, sc), laneSum(kind, w, x, n, 15, keep, sc)));
  return f32x4.add(f32x4.add(s0, s2), f32x4.add(s1, s3));
}

/**
 * Lane vector j of vecDotF: elements 4j..4j+3 of every 64-element chunk, multiplied and summed in
 * chunk order. The first product stands alone (the FMA onto zero rounds as the product does; only
 * a zero's sign could differ, which no later step can see).
 */
// @ts-ignore: decorator
@inline
function laneSum(kind: i32, w: usize, x: usize, n: i32, j: i32, keep: v128, sc: v128): v128 {
  let v = f32x4.mul(loadW(kind, w, 4 * j, keep, sc), v128.load(x + (<usize>j << 4)));
  if (n == 128) {
    const wv = loadW(kind, w, 64 + 4 * j, keep, sc), xv = v128.load(x + (<usize>(64 + 4 * j) << 2));
    v = kind == 0 ? fmaVV(v, wv, xv) : addExact(v, wv, xv);
  }
  return v;
}

/**
 * tinyDot up to its last two additions: four lane vectors over elements ≡ 0..15 (mod 16), each
 * summed in order (the first product alone, as in laneSum), then (a0 + a2) + (a1 + a3).
 */
// @ts-ignore: decorator
@inline
function tinyU(kind: i32, w: usize, x: usize, n: i32): v128 {
  const keep = f16Keep(n >> 31), sc = f16Scale(n >> 31);
  let a0 = f32x4.mul(loadW(kind, w, 0, keep, sc), v128.load(x)), a1 = f32x4.mul(loadW(kind, w, 4, keep, sc), v128.load(x, 16));
  let a2 = f32x4.mul(loadW(kind, w, 8, keep, sc), v128.load(x, 32)), a3 = f32x4.mul(loadW(kind, w, 12, keep, sc), v128.load(x, 48));
  for (let i = 16; i < n; i += 16) {
    const xi = x + (<usize>i << 2);
    a0 = kind == 0 ? fmaVV(a0, loadW(kind, w, i, keep, sc), v128.load(xi)) : addExact(a0, loadW(kind, w, i, keep, sc), v128.load(xi));
    a1 = kind == 0 ? fmaVV(a1, loadW(kind, w, i + 4, keep, sc), v128.load(xi, 16)) : addExact(a1, loadW(kind, w, i + 4, keep, sc), v128.load(xi, 16));
    a2 = kind == 0 ? fmaVV(a2, loadW(kind, w, i + 8, keep, sc), v128.load(xi, 32)) : addExact(a2, loadW(kind, w, i + 8, keep, sc), v128.load(xi, 32));
    a3 = kind == 0 ? fmaVV(a3, loadW(kind, w, i + 12, keep, sc), v128.load(xi, 48)) : addExact(a3, loadW(kind, w, i + 12, keep, sc), v128.load(xi, 48));
  }
  return f32x4.add(f32x4.add(a0, a2), f32x4.add(a1, a3));
}

// @ts-ignore: decorator
@inline
function dotAny(tiny: bool, kind: i32, w: usize, x: usize, n: i32): v128 {
  return tiny ? tinyU(kind, w, x, n) : dotU(kind, w, x, n);
}

/** The dots of four dotU / tinyU results in one vector: lane c = (u_c[0] + u_c[2]) + (u_c[1] + u_c[3]), reduce16's last two steps. */
// @ts-ignore: decorator
@inline
function fold4(u0: v128, u1: v128, u2: v128, u3: v128): v128 {
  const a = f32x4.add(v128.shuffle<f32>(u0, u1, 0, 1, 4, 5), v128.shuffle<f32>(u0, u1, 2, 3, 6, 7));
  const b = f32x4.add(v128.shuffle<f32>(u2, u3, 0, 1, 4, 5), v128.shuffle<f32>(u2, u3, 2, 3, 6, 7));
  return f32x4.add(v128.shuffle<f32>(a, b, 0, 2, 4, 6), v128.shuffle<f32>(a, b, 1, 3, 5, 7));
}

/** Scores f32(dot·scale) (the scale in double, as the scalar path) of four cells into P. */
// @ts-ignore: decorator
@inline
function store4(P: usize, e0: i32, e1: i32, e2: i32, e3: i32, scale: f64, dots: v128): void {
  const sv = f64x2.splat(scale);
  const lo = f32x4.demote_f64x2_zero(f64x2.mul(f64x2.promote_low_f32x4(dots), sv));
  const hi = f32x4.demote_f64x2_zero(f64x2.mul(f64x2.promote_low_f32x4(v128.shuffle<f32>(dots, dots, 2, 3, 2, 3)), sv));
  store<f32>(P + (<usize>e0 << 2), f32x4.extract_lane(lo, 0));
  store<f32>(P + (<usize>e1 << 2), f32x4.extract_lane(lo, 1));
  store<f32>(P + (<usize>e2 << 2), f32x4.extract_lane(hi, 0));
  store<f32>(P + (<usize>e3 << 2), f32x4.extract_lane(hi, 1));
}

// @ts-ignore: decorator
@inline
function axpy4(f16: i32, half: bool, acc: usize, pv: v128, v: usize, i: i32, keep: v128, scale: v128): void {
  const o = acc + (<usize>i << 2);
  const vv = half ? f16x4(v + (<usize>i << 1), keep, scale) : v128.load(v + (<usize>i << 2));
  v128.store(o, f16 ? addExact(v128.load(o), pv, vv) : fmaVV(v128.load(o), pv, vv));
}

/** A cache row (f16 or f32) as f32 at dst. */
// @ts-ignore: decorator
@inline
function widen(f16: i32, src: usize, n: i32, dst: usize): void {
  if (!f16) { memory.copy(dst, src, <usize>n << 2); return; }
  const n4 = n & ~3;
  const keep = f16Keep(n >> 31), scale = f16Scale(n >> 31);
  let i = 0;
  for (; i < n4; i += 4) v128.store(dst + (<usize>i << 2), f16x4(src + (<usize>i << 1), keep, scale));
  for (; i < n; i++) store<f32>(dst + (<usize>i << 2), loadS(1, src, i));
}

/**
 * (token, KV head) units [j0, j1). `scratch` is this thread's area: group q rows (group·headDim
 * f32) | four widened K/V rows (4·headDim) | probabilities (group·nKv) | lane accumulators
 * (group·64·headDim). out may alias q (the group's q rows are copied first).
 */
export function attention(q: usize, k: usize, v: usize, f16: i32, cells: usize, start: usize, count: usize,
  nHeads: i32, nKvHeads: i32, headDim: i32, scale: f64, nKv: i32, flags: i32, j0: i32, j1: i32, out: usize, scratch: usize): void {
  const group = nHeads / nKvHeads;
  const kvWidth = nKvHeads * headDim;
  const esz: usize = f16 ? 2 : 4;
  const hb = <usize>headDim << 2;
  const kind = f16 ? 3 : 0; // dot arithmetic on widened rows (matmul-float.ts)
  const qr = scratch, row = qr + <usize>group * hb, P0 = row + 4 * hb;
  const pStride = <usize>nKv << 2;
  const vec = nKv - nKv % 16;
  const kqTiny = (flags & ATTN_KQ_TINY) != 0, kqvTiny = (flags & ATTN_KQV_TINY) != 0;
  const nLanes = kqvTiny ? 16 : 64;
  const np = kqvTiny ? nKv : nKv & ~63;
  const L = hb; // bytes per lane accumulator row
  const accStride = <usize>nLanes * L;
  const acc0 = P0 + <usize>group * pStride;
  for (let j = j0; j < j1; j++) {
    const t = j / nKvHeads, kvh = j - t * nKvHeads;
    const st = load<i32>(start + (<usize>t << 2)), cnt = load<i32>(count + (<usize>t << 2));
    const qBase = q + <usize>(t * nHeads + kvh * group) * hb;
    for (let i = 0; i < group * headDim; i++) {
      const x = load<f32>(qBase + (<usize>i << 2));
      store<f32>(qr + (<usize>i << 2), f16 ? f32RoundF16(x) : x);
    }
    // Probabilities are dense over the nKv cells: 0 past the highest visible cell (rounded up to
    // whole vectors of 16, which then add exactly nothing to the sum), −inf for masked cells below
    // it until the softmax turns them into 0.
    let hi = 0;
    for (let c = 0; c < cnt; c++) hi = max<i32>(hi, load<i32>(cells + (<usize>(st + c) << 2)) + 1);
    const hiV = min<i32>(nKv, (hi + 15) & ~15);
    memory.fill(P0, 0, <usize>group * pStride);
    const ninf = f32x4.splat(-Infinity);
    for (let h = 0; h < group; h++) {
      const P = P0 + <usize>h * pStride;
      let c = 0;
      for (; c + 4 <= hiV; c += 4) v128.store(P + (<usize>c << 2), ninf);
      for (; c < hiV; c++) store<f32>(P + (<usize>c << 2), -Infinity);
    }
    // Touch the unit's K and V rows first: strided rows of one head defeat the prefetchers and the
    // compute loops below would wait on each row's cache misses in turn; independent loads here
    // overlap them (wasm has no prefetch instruction). Measured 2.5× on decode attention.
    let touched = 0;
    const kvOff = <usize>(kvh * headDim) * esz, rowBytes = <usize>headDim * esz;
    for (let c = 0; c < cnt; c++) {
      const off = <usize>load<i32>(cells + (<usize>(st + c) << 2)) * <usize>kvWidth * esz + kvOff;
      for (let b: usize = 0; b < rowBytes; b += 64) touched |= load<u8>(k + off + b) | load<u8>(v + off + b);
    }
    store<i32>(row, touched); // keeps the loads (row is scratch, overwritten below)
    // Scores: each K row widened once, dotted with every head of the group (one head: straight
    // from the cache row). ggml_vec_dot_f16's sums for four cells at a time share the last folds.
    const kBase = k + <usize>(kvh * headDim) * esz;
    let c = 0;
    if (kqTiny) c = scores4(f16, group, true, headDim, kBase, kvWidth, cells + (<usize>st << 2), cnt, qr, row, P0, pStride, scale);
    else if (headDim == 64) c = scores4(f16, group, false, 64, kBase, kvWidth, cells + (<usize>st << 2), cnt, qr, row, P0, pStride, scale);
    else if (headDim == 128) c = scores4(f16, group, false, 128, kBase, kvWidth, cells + (<usize>st << 2), cnt, qr, row, P0, pStride, scale);
    for (; c < cnt; c++) {
      const cell = load<i32>(cells + (<usize>(st + c) << 2));
      const kRow = kBase + <usize>(cell * kvWidth) * esz;
      if (group == 1) {
        // One head: dot straight from the cache row (same products and order as on the widened row).
        const dot = f16 ? (kqTiny ? tinyDot(1, kRow, qr, headDim) : vecDotF(1, kRow, qr, headDim))
          : (kqTiny ? tinyDot(0, kRow, qr, headDim) : vecDotF(0, kRow, qr, headDim));
        store<f32>(P0 + (<usize>cell << 2), <f32>(<f64>dot * scale));
        continue;
      }
      widen(f16, kRow, headDim, row);
      for (let h = 0; h < group; h++) {
        const qh = qr + <usize>h * hb;
        const dot = kqTiny ? tinyDot(kind, row, qh, headDim) : vecDotF(kind, row, qh, headDim);
        store<f32>(P0 + <usize>h * pStride + (<usize>cell << 2), <f32>(<f64>dot * scale));
      }
    }
    // Softmax per head: ggml_v_expf below `vec`, libm's expf on the tail; a score of −inf (masked,
    // or overflowed) gives 0 either way.
    const ev = min<i32>(hiV, vec) & ~3;
    const z = nKv >> 31;
    const kL2e = ek(LOG2E, z), kR = ek(EXP_R, z), kHi = ek(LN2_HI, z), kLo = ek(LN2_LO, z), k5 = ek(C5, z), k4 = ek(C4, z);
    const k3 = ek(C3, z), k2 = ek(C2, z), k1 = ek(C1, z), kOne = ek(1, z), kMax = ek(126, z), kS = keepV(i32x4.splat(0x80000000), z);
    for (let h = 0; h < group; h++) {
      const P = P0 + <usize>h * pStride;
      let mv = ninf;
      c = 0;
      for (; c + 4 <= hiV; c += 4) mv = f32x4.max(mv, v128.load(P + (<usize>c << 2)));
      let mx = max<f32>(max<f32>(f32x4.extract_lane(mv, 0), f32x4.extract_lane(mv, 1)), max<f32>(f32x4.extract_lane(mv, 2), f32x4.extract_lane(mv, 3)));
      for (; c < hiV; c++) mx = max<f32>(mx, load<f32>(P + (<usize>c << 2)));
      const mxv = f32x4.splat(mx);
      for (c = 0; c < ev; c += 4) {
        const pc = P + (<usize>c << 2);
        const v = v128.load(pc);
        const vis = f32x4.ne(v, ninf);
        v128.store(pc, v128.and(vexpV(v128.and(f32x4.sub(v, mxv), vis), kL2e, kR, kHi, kLo, k5, k4, k3, k2, k1, kOne, kMax, kS), vis));
      }
      for (; c < hiV; c++) {
        const pc = P + (<usize>c << 2);
        const v = load<f32>(pc);
        store<f32>(pc, v == -Infinity ? 0 : c < vec ? vExpf(v - mx) : <f32>Math.exp(<f64>(v - mx)));
      }
      let sum: f64 = 0;
      for (c = 0; c < min<i32>(hiV, vec); c += 16) {
        const pc = P + (<usize>c << 2);
        sum += <f64>reduce16(v128.load(pc), v128.load(pc, 16), v128.load(pc, 32), v128.load(pc, 48));
      }
      for (c = vec; c < hiV; c++) sum += <f64>load<f32>(P + (<usize>c << 2));
      const inv = <f32>(1.0 / sum);
      const invv = f32x4.splat(inv);
      const r0 = keepV(i32x4.splat(0xfff), z), r1 = keepV(i32x4.splat(1), z), r2 = keepV(i32x4.splat(0xffffe000), z);
      const r3 = keepV(f32x4.splat(0.5), z), r4 = keepV(f32x4.splat(reinterpret<f32>(0x38800000)), z);
      for (c = 0; c + 4 <= hiV; c += 4) {
        const pc = P + (<usize>c << 2);
        const p = f32x4.mul(v128.load(pc), invv);
        v128.store(pc, f16 ? roundF16Pos4(p, r0, r1, r2, r3, r4) : p);
      }
      for (; c < hiV; c++) {
        const pc = P + (<usize>c << 2);
        const p = load<f32>(pc) * inv;
        store<f32>(pc, f16 ? f32RoundF16(p) : p);
      }
    }
    // V·p: cell c goes to lane c mod 16 (tinyBLAS) or c mod 64 below np (vec_dot), in cache order;
    // each V row widened once for the group (read in place for one head). A head whose p is 0
    // adds nothing.
    memory.fill(acc0, 0, <usize>group * accStride);
    const vBase = v + <usize>(kvh * headDim) * esz;
    const vEnd = min<i32>(np, hi);
    if (group == 1) {
      for (let c = 0; c < vEnd; c++) {
        const p = load<f32>(P0 + (<usize>c << 2));
        if (p == 0) continue;
        const a = acc0 + <usize>(c & (nLanes - 1)) * L, vr = vBase + <usize>(c * kvWidth) * esz;
        if (f16) axpy(1, true, a, p, vr, headDim);
        else axpy(0, false, a, p, vr, headDim);
      }
    }
    for (let c = 0; c < (group == 1 ? 0 : vEnd); c++) {
      widen(f16, vBase + <usize>(c * kvWidth) * esz, headDim, row);
      const lane = <usize>(c & (nLanes - 1)) * L;
      for (let h = 0; h < group; h++) {
        const p = load<f32>(P0 + <usize>h * pStride + (<usize>c << 2));
        if (p != 0) axpy(f16, false, acc0 + <usize>h * accStride + lane, p, row, headDim);
      }
    }
    for (let h = 0; h < group; h++) {
      const acc = acc0 + <usize>h * accStride;
      const P = P0 + <usize>h * pStride;
      const oRow = out + <usize>(t * nHeads + kvh * group + h) * hb;
      const d4 = headDim & ~3;
      // ggml_vec_dot's 64 lanes fold to 16 (accumulators 0+2 and 1+3, then 0+1): lane k gathers
      // k, k+16, k+32, k+48; then _mm512_reduce_add_ps over the 16, four outputs at a time.
      let i = 0;
      for (; i < d4; i += 4) {
        const o = acc + (<usize>i << 2);
        let l0 = v128.load(o), l1 = v128.load(o + L), l2 = v128.load(o + 2 * L), l3 = v128.load(o + 3 * L);
        let l4 = v128.load(o + 4 * L), l5 = v128.load(o + 5 * L), l6 = v128.load(o + 6 * L), l7 = v128.load(o + 7 * L);
        let l8 = v128.load(o + 8 * L), l9 = v128.load(o + 9 * L), l10 = v128.load(o + 10 * L), l11 = v128.load(o + 11 * L);
        let l12 = v128.load(o + 12 * L), l13 = v128.load(o + 13 * L), l14 = v128.load(o + 14 * L), l15 = v128.load(o + 15 * L);
        if (!kqvTiny) {
          l0 = fold(o, L, 0, l0); l1 = fold(o, L, 1, l1); l2 = fold(o, L, 2, l2); l3 = fold(o, L, 3, l3);
          l4 = fold(o, L, 4, l4); l5 = fold(o, L, 5, l5); l6 = fold(o, L, 6, l6); l7 = fold(o, L, 7, l7);
          l8 = fold(o, L, 8, l8); l9 = fold(o, L, 9, l9); l10 = fold(o, L, 10, l10); l11 = fold(o, L, 11, l11);
          l12 = fold(o, L, 12, l12); l13 = fold(o, L, 13, l13); l14 = fold(o, L, 14, l14); l15 = fold(o, L, 15, l15);
        }
        const t0 = f32x4.add(l0, l8), t1 = f32x4.add(l1, l9), t2 = f32x4.add(l2, l10), t3 = f32x4.add(l3, l11);
        const t4 = f32x4.add(l4, l12), t5 = f32x4.add(l5, l13), t6 = f32x4.add(l6, l14), t7 = f32x4.add(l7, l15);
        const u0 = f32x4.add(t0, t4), u1 = f32x4.add(t1, t5), u2 = f32x4.add(t2, t6), u3 = f32x4.add(t3, t7);
        let r = f32x4.add(f32x4.add(u0, u2), f32x4.add(u1, u3));
        if (np < nKv) r = tail4(f16, r, P, np, nKv, vBase + (<usize>i) * esz, kvWidth);
        v128.store(oRow + (<usize>i << 2), r);
      }
      for (; i < headDim; i++) {
        const o = acc + (<usize>i << 2);
        let r: f32;
        if (kqvTiny) {
          r = reduce16(lanes4(o, L, 0), lanes4(o, L, 4), lanes4(o, L, 8), lanes4(o, L, 12));
        } else {
          r = reduce16(folded4(o, L, 0), folded4(o, L, 4), folded4(o, L, 8), folded4(o, L, 12));
        }
        if (np < nKv) r = tail1(f16, r, P, np, nKv, vBase + (<usize>i) * esz, kvWidth);
        store<f32>(oRow + (<usize>i << 2), r);
      }
    }
  }
}

/** Lane k (< 16) of the 64: (k + k+32) + (k+16 + k+48), for 4 outputs at o. */
// @ts-ignore: decorator
@inline
function fold(o: usize, L: usize, k: i32, lk: v128): v128 {
  const kk = <usize>k * L;
  return f32x4.add(f32x4.add(lk, v128.load(o + kk + 32 * L)), f32x4.add(v128.load(o + kk + 16 * L), v128.load(o + kk + 48 * L)));
}

/** Lanes k..k+3 of one output (scalar tail of the head). */
// @ts-ignore: decorator
@inline
function lanes4(o: usize, L: usize, k: i32): v128 {
  const p = o + <usize>k * L;
  return f32x4.replace_lane(f32x4.replace_lane(f32x4.replace_lane(f32x4.splat(load<f32>(p)), 1, load<f32>(p + L)), 2, load<f32>(p + 2 * L)), 3, load<f32>(p + 3 * L));
}

// @ts-ignore: decorator
@inline
function folded4(o: usize, L: usize, k: i32): v128 {
  return f32x4.add(f32x4.add(lanes4(o, L, k), lanes4(o, L, k + 32)), f32x4.add(lanes4(o, L, k + 16), lanes4(o, L, k + 48)));
}

/** The cells past the 64-lane part for one output: in double (f16) or as the compiled f32 loop. */
// @ts-ignore: decorator
@inline
function tail1(f16: i32, r: f32, P: usize, np: i32, nKv: i32, vi: usize, kvWidth: i32): f32 {
  if (f16) {
    let d = <f64>r;
    for (let c = np; c < nKv; c++) {
      const p = load<f32>(P + (<usize>c << 2));
      if (p != 0) d += <f64>p * <f64>loadS(1, vi + <usize>(c * kvWidth) * 2, 0);
    }
    return <f32>d;
  }
  const unfused = np + ((nKv - np) & ~7);
  for (let c = np; c < nKv; c++) {
    const p = load<f32>(P + (<usize>c << 2));
    if (p == 0) continue;
    const x = load<f32>(vi + <usize>(c * kvWidth) * 4);
    r = c < unfused ? r + p * x : <f32>(<f64>p * <f64>x + <f64>r);
  }
  return r;
}

// @ts-ignore: decorator
@inline
function tail4(f16: i32, r: v128, P: usize, np: i32, nKv: i32, vi: usize, kvWidth: i32): v128 {
  const esz: usize = f16 ? 2 : 4;
  return f32x4.replace_lane(f32x4.replace_lane(f32x4.replace_lane(f32x4.splat(
    tail1(f16, f32x4.extract_lane(r, 0), P, np, nKv, vi, kvWidth)), 1,
    tail1(f16, f32x4.extract_lane(r, 1), P, np, nKv, vi + esz, kvWidth)), 2,
    tail1(f16, f32x4.extract_lane(r, 2), P, np, nKv, vi + 2 * esz, kvWidth)), 3,
    tail1(f16, f32x4.extract_lane(r, 3), P, np, nKv, vi + 3 * esz, kvWidth));
}
