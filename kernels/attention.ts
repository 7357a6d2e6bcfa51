// Attention as llama.cpp builds it without flash attention, the way the reference backend spells
// it out (src/backend/ref/index.ts, attentionRef): scores K·q over the cache's first nKv cells
// (masked cells −inf), softmax with ggml_v_expf on vectors of 16 cells and the vectors'
// _mm512_reduce_add_ps summed in double, then V·p. q and p are rounded to f16 for an f16 cache;
// both products run tinyBLAS (16 lanes) or ggml_vec_dot_f16/_f32 (64 lanes + tail) as llama.cpp
// picks. A cell's lane is its cache index, so probabilities live in a dense array over the nKv
// cells (masked ones 0, which add nothing to any lane).

import { f32RoundF16 } from "./util";
import { fmaVV, reduce16 } from "./exact";
import { loadW, loadS, tinyDot, vecDotF } from "./matmul-float";
import { vExpf } from "./ops";

/** flags bit 0: K·q on tinyBLAS; bit 1: V·p on tinyBLAS. */
export const ATTN_KQ_TINY = 1, ATTN_KQV_TINY = 2;

/** acc[0..n) += p · v[0..n) with llama.cpp's rounding: f16 products are exact, f32 ones fused. */
// @ts-ignore: decorator
@inline
function axpy(f16: i32, acc: usize, p: f32, v: usize, n: i32): void {
  const pv = f32x4.splat(p);
  const n4 = n & ~3;
  let i = 0;
  for (; i < n4; i += 4) {
    const o = acc + (<usize>i << 2);
    const vv = loadW(f16, v, i);
    v128.store(o, f16 ? f32x4.add(v128.load(o), f32x4.mul(pv, vv)) : fmaVV(v128.load(o), pv, vv));
  }
  for (; i < n; i++) {
    const o = acc + (<usize>i << 2);
    const vs = loadS(f16, v, i);
    store<f32>(o, f16 ? load<f32>(o) + p * vs : <f32>(<f64>p * <f64>vs + <f64>load<f32>(o)));
  }
}

/**
 * Heads of (token, KV head) units [j0, j1). `scratch` is this thread's area: q row (headDim f32) |
 * probabilities (nKv f32) | lane accumulators (64 × headDim f32). out may alias q (a head's q row
 * is copied before its output row is written).
 */
export function attention(q: usize, k: usize, v: usize, f16: i32, cells: usize, start: usize, count: usize,
  nHeads: i32, nKvHeads: i32, headDim: i32, scale: f64, nKv: i32, flags: i32, j0: i32, j1: i32, out: usize, scratch: usize): void {
  const group = nHeads / nKvHeads;
  const kvWidth = nKvHeads * headDim;
  const esz: usize = f16 ? 2 : 4;
  const hb = <usize>headDim << 2;
  const qr = scratch, P = scratch + hb, acc = P + (<usize>nKv << 2);
  const vec = nKv - nKv % 16;
  const kqTiny = (flags & ATTN_KQ_TINY) != 0, kqvTiny = (flags & ATTN_KQV_TINY) != 0;
  const nLanes = kqvTiny ? 16 : 64;
  const np = kqvTiny ? nKv : nKv & ~63;
  for (let j = j0; j < j1; j++) {
    const t = j / nKvHeads, kvh = j - t * nKvHeads;
    const st = load<i32>(start + (<usize>t << 2)), cnt = load<i32>(count + (<usize>t << 2));
    for (let h = kvh * group; h < (kvh + 1) * group; h++) {
      const qRow = q + <usize>(t * nHeads + h) * hb;
      for (let i = 0; i < headDim; i++) {
        const x = load<f32>(qRow + (<usize>i << 2));
        store<f32>(qr + (<usize>i << 2), f16 ? f32RoundF16(x) : x);
      }
      memory.fill(P, 0, <usize>nKv << 2);
      let mx: f32 = -Infinity;
      for (let c = 0; c < cnt; c++) {
        const cell = load<i32>(cells + (<usize>(st + c) << 2));
        const kRow = k + <usize>(cell * kvWidth + kvh * headDim) * esz;
        const dot = kqTiny ? tinyDot(f16, kRow, qr, headDim) : vecDotF(f16, kRow, qr, headDim);
        const s = <f32>(<f64>dot * scale);
        store<f32>(P + (<usize>cell << 2), s);
        if (s > mx) mx = s;
      }
      for (let c = 0; c < cnt; c++) {
        const pc = P + (<usize>load<i32>(cells + (<usize>(st + c) << 2)) << 2);
        const x = load<f32>(pc) - mx;
        store<f32>(pc, pc < P + (<usize>vec << 2) ? vExpf(x) : <f32>Math.exp(<f64>x));
      }
      let sum: f64 = 0;
      for (let c = 0; c < vec; c += 16) {
        const pc = P + (<usize>c << 2);
        sum += <f64>reduce16(v128.load(pc), v128.load(pc, 16), v128.load(pc, 32), v128.load(pc, 48));
      }
      for (let c = vec; c < nKv; c++) sum += <f64>load<f32>(P + (<usize>c << 2));
      const inv = <f32>(1.0 / sum);
      for (let c = 0; c < cnt; c++) {
        const pc = P + (<usize>load<i32>(cells + (<usize>(st + c) << 2)) << 2);
        const p = load<f32>(pc) * inv;
        store<f32>(pc, f16 ? f32RoundF16(p) : p);
      }
      // V·p: cell c goes to lane c mod 16 (tinyBLAS) or c mod 64 below np (vec_dot), in cache order.
      memory.fill(acc, 0, <usize>(nLanes * headDim) << 2);
      const vBase = v + <usize>(kvh * headDim) * esz;
      for (let c = 0; c < np; c++) {
        const p = load<f32>(P + (<usize>c << 2));
        if (p == 0) continue;
        axpy(f16, acc + <usize>((c & (nLanes - 1)) * headDim) * 4, p, vBase + <usize>(c * kvWidth) * esz, headDim);
      }
      const oRow = out + <usize>(t * nHeads + h) * hb;
      const L = <usize>headDim << 2;
      if (!kqvTiny) {
        // ggml_vec_dot's accumulators 0+2 and 1+3, then 0+1: lane k (< 16) gathers k, k+16, k+32, k+48.
        for (let l = 0; l < 16; l++) {
          const a = acc + <usize>l * L;
          for (let i = 0; i < headDim; i++) {
            const o = <usize>i << 2;
            const x = load<f32>(a + o) + load<f32>(a + 32 * L + o);
            const y = load<f32>(a + 16 * L + o) + load<f32>(a + 48 * L + o);
            store<f32>(a + o, x + y);
          }
        }
      }
      for (let i = 0; i < headDim; i++) {
        const o = acc + (<usize>i << 2);
        // reduce16 over the 16 lanes of output i.
        let r = reduce16(
          f32x4.replace_lane(f32x4.replace_lane(f32x4.replace_lane(f32x4.splat(load<f32>(o)), 1, load<f32>(o + L)), 2, load<f32>(o + 2 * L)), 3, load<f32>(o + 3 * L)),
          f32x4.replace_lane(f32x4.replace_lane(f32x4.replace_lane(f32x4.splat(load<f32>(o + 4 * L)), 1, load<f32>(o + 5 * L)), 2, load<f32>(o + 6 * L)), 3, load<f32>(o + 7 * L)),
          f32x4.replace_lane(f32x4.replace_lane(f32x4.replace_lane(f32x4.splat(load<f32>(o + 8 * L)), 1, load<f32>(o + 9 * L)), 2, load<f32>(o + 10 * L)), 3, load<f32>(o + 11 * L)),
          f32x4.replace_lane(f32x4.replace_lane(f32x4.replace_lane(f32x4.splat(load<f32>(o + 12 * L)), 1, load<f32>(o + 13 * L)), 2, load<f32>(o + 14 * L)), 3, load<f32>(o + 15 * L)));
        if (np < nKv) {
          // The tail past the 64-lane part: in double (f16) or as the compiled f32 loop does it.
          const vi = vBase + (<usize>i) * esz;
          if (f16) {
            let d = <f64>r;
            for (let c = np; c < nKv; c++) {
              const p = load<f32>(P + (<usize>c << 2));
              if (p != 0) d += <f64>p * <f64>loadS(1, vi + <usize>(c * kvWidth) * 2, 0);
            }
            r = <f32>d;
          } else {
            const unfused = np + ((nKv - np) & ~7);
            for (let c = np; c < nKv; c++) {
              const p = load<f32>(P + (<usize>c << 2));
              if (p == 0) continue;
              const x = load<f32>(vi + <usize>(c * kvWidth) * 4);
              r = c < unfused ? r + p * x : <f32>(<f64>p * <f64>x + <f64>r);
            }
          }
        }
        store<f32>(oRow + (<usize>i << 2), r);
      }
    }
  }
}
