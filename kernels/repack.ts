// Load-time repacking from GGUF blocks to the kernels' layout (see matmul.ts), and the inverse
// per-row dequantization used by getRows. `src` holds `n` consecutive GGUF rows starting at global
// row `row0` (a multiple of 4 except for the last chunk's tail).

import { f16ToF32, slot16 } from "./util";

/** 16 bytes from src to dst in slot16 order (the signed-weight layouts; see util.ts). */
function copySlots(dst: usize, src: usize): void {
  for (let m = 0; m < 16; m++) store<u8>(dst + <usize>slot16(m), load<u8>(src + <usize>m));
}

export function repackQ8_0(src: usize, n: i32, row0: i32, nb: i32, dq: usize, ds: usize): void {
  for (let i = 0; i < n; i++) {
    const R = row0 + i, g = R >> 2, r = R & 3;
    for (let b = 0; b < nb; b++) {
      const blk = src + <usize>(i * nb + b) * 34;
      const gb = <usize>g * <usize>nb + <usize>b;
      store<u16>(ds + ((gb * 4 + <usize>r) << 1), load<u16>(blk)); // f16 as in the file (mmQ8_0 widens)
      copySlots(dq + gb * 128 + <usize>(r * 32), blk + 2);
      copySlots(dq + gb * 128 + <usize>(r * 32 + 16), blk + 18);
    }
  }
}

export function repackQ4_0(src: usize, n: i32, row0: i32, nb: i32, dq: usize, ds: usize): void {
  for (let i = 0; i < n; i++) {
    const R = row0 + i, g = R >> 2, r = R & 3;
    for (let b = 0; b < nb; b++) {
      const blk = src + <usize>(i * nb + b) * 18;
      const gb = <usize>g * <usize>nb + <usize>b;
      store<u16>(ds + ((gb * 4 + <usize>r) << 1), load<u16>(blk)); // scales stay f16 (matmul.ts scales4)
      // Rows interleaved 4 bytes at a time: bytes 4k..4k+3 of row r at 16k + 4r (matmul.ts q4Sums).
      for (let k = 0; k < 4; k++) store<u32>(dq + gb * 64 + <usize>(k * 16 + r * 4), load<u32>(blk + 2 + <usize>(k * 4)));
    }
  }
}

/** Scale (`min` false) or min (true) of sub-block j from a Q4_K/Q5_K block's 12 packed bytes at q. */
// @ts-ignore: decorator
@inline
function kScale(q: usize, j: i32, min: bool): u32 {
  if (j < 4) return load<u8>(q + <usize>(j + (min ? 4 : 0))) & 63;
  return min ? (load<u8>(q + <usize>(j + 4)) >> 4) | ((load<u8>(q + <usize>j) >> 6) << 4)
    : (load<u8>(q + <usize>(j + 4)) & 0xf) | ((load<u8>(q + <usize>(j - 4)) >> 6) << 4);
}

/** Q5_K meta of row r (128 bytes per group): d, dmin f32[4] | sc u16[4 rows][8] | m u8[4][8]. */
function kMeta(blk: usize, m: usize, r: i32): void {
  store<f32>(m + (<usize>r << 2), f16ToF32(load<u16>(blk)));
  store<f32>(m + 16 + (<usize>r << 2), f16ToF32(load<u16>(blk, 2)));
  for (let j = 0; j < 8; j++) {
    store<u16>(m + 32 + (<usize>(r * 8 + j) << 1), <u16>kScale(blk + 4, j, false));
    store<u8>(m + 96 + <usize>(r * 8 + j), <u8>kScale(blk + 4, j, true));
  }
}

/**
 * Q4_K meta of row r (80 bytes per group, 4 more per row than the file's 16): d, dmin f16[4] as in
 * the file | sc u8[8 sub-blocks][4 rows] (the kernel reads a sub-block's four scales at once) |
 * m u8[4 rows][8].
 */
function q4kMeta(blk: usize, m: usize, r: i32): void {
  store<u16>(m + (<usize>r << 1), load<u16>(blk));
  store<u16>(m + 8 + (<usize>r << 1), load<u16>(blk, 2));
  for (let j = 0; j < 8; j++) {
    store<u8>(m + 16 + <usize>(j * 4 + r), <u8>kScale(blk + 4, j, false));
    store<u8>(m + 48 + <usize>(r * 8 + j), <u8>kScale(blk + 4, j, true));
  }
}

export function repackQ5_K(src: usize, n: i32, row0: i32, nsb: i32, dq: usize, ds: usize): void {
  for (let i = 0; i < n; i++) {
    const R = row0 + i, g = R >> 2, r = R & 3;
    for (let s = 0; s < nsb; s++) {
      const blk = src + <usize>(i * nsb + s) * 176;
      const gs = <usize>g * <usize>nsb + <usize>s;
      kMeta(blk, ds + gs * 128, r);
      const dst = dq + gs * 640 + <usize>(r * 160);
      memory.copy(dst, blk + 48, 128);
      memory.copy(dst + 128, blk + 16, 32);
    }
  }
}

export function rowQ5_K(dq: usize, ds: usize, nsb: i32, R: i32, dst: usize): void {
  const g = R >> 2, r = R & 3;
  for (let s = 0; s < nsb; s++) {
    const gs = <usize>g * <usize>nsb + <usize>s;
    const m = ds + gs * 128;
    const d = load<f32>(m + (<usize>r << 2)), dmin = load<f32>(m + 16 + (<usize>r << 2));
    const q = dq + gs * 640 + <usize>(r * 160), qh = q + 128;
    for (let j = 0; j < 4; j++) {
      const d1 = d * <f32>load<u16>(m + 32 + (<usize>(r * 8 + 2 * j) << 1)), m1 = dmin * <f32>load<u8>(m + 96 + <usize>(r * 8 + 2 * j));
      const d2 = d * <f32>load<u16>(m + 34 + (<usize>(r * 8 + 2 * j) << 1)), m2 = dmin * <f32>load<u8>(m + 97 + <usize>(r * 8 + 2 * j));
      for (let l = 0; l < 32; l++) {
        const v = <i32>load<u8>(q + <usize>(j * 32 + l)), h = <i32>load<u8>(qh + l);
        store<f32>(dst + <usize>((s * 256 + j * 64 + l) << 2), d1 * <f32>((v & 15) + (((h >> (2 * j)) & 1) << 4)) - m1);
        store<f32>(dst + <usize>((s * 256 + j * 64 + 32 + l) << 2), d2 * <f32>((v >> 4) + (((h >> (2 * j + 1)) & 1) << 4)) - m2);
      }
    }
  }
}

export function repackQ4_K(src: usize, n: i32, row0: i32, nsb: i32, dq: usize, ds: usize): void {
  for (let i = 0; i < n; i++) {
    const R = row0 + i, g = R >> 2, r = R & 3;
    for (let s = 0; s < nsb; s++) {
      const blk = src + <usize>(i * nsb + s) * 144;
      const gs = <usize>g * <usize>nsb + <usize>s;
      q4kMeta(blk, ds + gs * 80, r);
      // Rows interleaved 4 bytes at a time (matmul-k.ts q4kSums): bytes 32j + 4k .. +3 of row r
      // (chunk j, k = 0..7) at 16·(8j + k) + 4r.
      for (let jk = 0; jk < 32; jk++) store<u32>(dq + gs * 512 + <usize>(jk * 16 + r * 4), load<u32>(blk + 16 + <usize>(jk * 4)));
    }
  }
}

export function repackQ6_K(src: usize, n: i32, row0: i32, nsb: i32, dq: usize, ds: usize): void {
  for (let i = 0; i < n; i++) {
    const R = row0 + i, g = R >> 2, r = R & 3;
    for (let s = 0; s < nsb; s++) {
      const blk = src + <usize>(i * nsb + s) * 210;
      const gs = <usize>g * <usize>nsb + <usize>s;
      const m = ds + gs * 144;
      store<f32>(m + (<usize>r << 2), f16ToF32(load<u16>(blk, 208)));
      for (let k = 0; k < 16; k++) store<i16>(m + 16 + <usize>(r * 32 + k * 2), <i16>load<i8>(blk + 192 + <usize>k));
      memory.copy(dq + gs * 768 + <usize>(r * 192), blk, 192);
    }
  }
}

// ---- getRows: dequantize one row R of a repacked weight into f32 `dst`.

export function rowQ8_0(dq: usize, ds: usize, nb: i32, R: i32, dst: usize): void {
  const g = R >> 2, r = R & 3;
  for (let b = 0; b < nb; b++) {
    const gb = <usize>g * <usize>nb + <usize>b;
    const d = f16ToF32(load<u16>(ds + ((gb * 4 + <usize>r) << 1)));
    const q = dq + gb * 128 + <usize>(r * 32);
    for (let j = 0; j < 32; j++) store<f32>(dst + <usize>((b * 32 + j) << 2), d * <f32>load<i8>(q + <usize>((j & 16) + slot16(j & 15))));
  }
}

export function rowQ4_0(dq: usize, ds: usize, nb: i32, R: i32, dst: usize): void {
  const g = R >> 2, r = R & 3;
  for (let b = 0; b < nb; b++) {
    const gb = <usize>g * <usize>nb + <usize>b;
    const d = f16ToF32(load<u16>(ds + ((gb * 4 + <usize>r) << 1)));
    const q = dq + gb * 64 + <usize>(r * 4);
    for (let j = 0; j < 16; j++) {
      const v = load<u8>(q + <usize>((j >> 2) * 16 + (j & 3)));
      store<f32>(dst + <usize>((b * 32 + j) << 2), d * <f32>((<i32>v & 15) - 8));
      store<f32>(dst + <usize>((b * 32 + j + 16) << 2), d * <f32>((<i32>v >> 4) - 8));
    }
  }
}

export function rowQ4_K(dq: usize, ds: usize, nsb: i32, R: i32, dst: usize): void {
  const g = R >> 2, r = R & 3;
  for (let s = 0; s < nsb; s++) {
    const gs = <usize>g * <usize>nsb + <usize>s;
    const m = ds + gs * 80;
    const d = f16ToF32(load<u16>(m + (<usize>r << 1))), dmin = f16ToF32(load<u16>(m + 8 + (<usize>r << 1)));
    const q = dq + gs * 512 + <usize>(r * 4);
    for (let j = 0; j < 4; j++) {
      const d1 = d * <f32>load<u8>(m + 16 + <usize>(2 * j * 4 + r)), m1 = dmin * <f32>load<u8>(m + 48 + <usize>(r * 8 + 2 * j));
      const d2 = d * <f32>load<u8>(m + 16 + <usize>((2 * j + 1) * 4 + r)), m2 = dmin * <f32>load<u8>(m + 49 + <usize>(r * 8 + 2 * j));
      for (let l = 0; l < 32; l++) {
        const v = load<u8>(q + <usize>((j * 8 + (l >> 2)) * 16 + (l & 3)));
        store<f32>(dst + <usize>((s * 256 + j * 64 + l) << 2), d1 * <f32>(v & 15) - m1);
        store<f32>(dst + <usize>((s * 256 + j * 64 + 32 + l) << 2), d2 * <f32>(v >> 4) - m2);
      }
    }
  }
}

export function rowQ6_K(dq: usize, ds: usize, nsb: i32, R: i32, dst: usize): void {
  const g = R >> 2, r = R & 3;
  for (let s = 0; s < nsb; s++) {
    const gs = <usize>g * <usize>nsb + <usize>s;
    const m = ds + gs * 144;
    const d = load<f32>(m + (<usize>r << 2));
    const sc = m + 16 + <usize>(r * 32);
    const p = dq + gs * 768 + <usize>(r * 192);
    for (let n = 0; n < 2; n++) {
      const ql = p + <usize>(n * 64), qh = p + 128 + <usize>(n * 32), o = dst + <usize>((s * 256 + n * 128) << 2), scn = sc + <usize>(n * 16);
      for (let l = 0; l < 32; l++) {
        const is = l / 16;
        const h = <i32>load<u8>(qh + l);
        const q1 = ((<i32>load<u8>(ql + l) & 15) | ((h & 3) << 4)) - 32;
        const q2 = ((<i32>load<u8>(ql + l + 32) & 15) | (((h >> 2) & 3) << 4)) - 32;
        const q3 = ((<i32>load<u8>(ql + l) >> 4) | (((h >> 4) & 3) << 4)) - 32;
        const q4 = ((<i32>load<u8>(ql + l + 32) >> 4) | (((h >> 6) & 3) << 4)) - 32;
        store<f32>(o + <usize>(l << 2), d * <f32>load<i16>(scn + (<usize>is << 1)) * <f32>q1);
        store<f32>(o + <usize>((l + 32) << 2), d * <f32>load<i16>(scn + (<usize>(is + 2) << 1)) * <f32>q2);
        store<f32>(o + <usize>((l + 64) << 2), d * <f32>load<i16>(scn + (<usize>(is + 4) << 1)) * <f32>q3);
        store<f32>(o + <usize>((l + 96) << 2), d * <f32>load<i16>(scn + (<usize>(is + 6) << 1)) * <f32>q4);
      }
    }
  }
}

export function rowFloat(kind: i32, w: usize, cols: i32, R: i32, dst: usize): void {
  if (kind == 0) { memory.copy(dst, w + <usize>R * <usize>cols * 4, <usize>cols * 4); return; }
  const p = w + <usize>R * <usize>cols * 2;
  for (let c = 0; c < cols; c++) {
    const h = <u32>load<u16>(p + (<usize>c << 1));
    store<f32>(dst + (<usize>c << 2), kind == 2 ? reinterpret<f32>(h << 16) : f16ToF32(h));
  }
}

// ---- Q4_1 / Q5_0 / Q5_1 / IQ4_NL / IQ4_XS.
// blockBytes, offset of d, m (−1: none), qh (−1: none), qs inside a GGUF block.
// @ts-ignore: decorator
@inline
function repack32(src: usize, n: i32, row0: i32, nb: i32, dq: usize, ds: usize, bb: i32, om: i32, oh: i32, oq: i32): void {
  const qb: usize = oh >= 0 ? 80 : 64;
  const sb: usize = om >= 0 ? 32 : 16;
  for (let i = 0; i < n; i++) {
    const R = row0 + i, g = R >> 2, r = R & 3;
    for (let b = 0; b < nb; b++) {
      const blk = src + <usize>(i * nb + b) * <usize>bb;
      const gb = <usize>g * <usize>nb + <usize>b;
      const sp = ds + gb * sb, qp = dq + gb * qb;
      store<f32>(sp + (<usize>r << 2), f16ToF32(load<u16>(blk)));
      if (om >= 0) store<f32>(sp + 16 + (<usize>r << 2), f16ToF32(load<u16>(blk + <usize>om)));
      if (bb == 18) copySlots(qp + <usize>(r * 16), blk + <usize>oq); // IQ4_NL: signed table values
      else memory.copy(qp + <usize>(r * 16), blk + <usize>oq, 16);
      if (oh >= 0) memory.copy(qp + 64 + <usize>(r * 4), blk + <usize>oh, 4);
    }
  }
}

export function repackQ4_1(src: usize, n: i32, row0: i32, nb: i32, dq: usize, ds: usize): void { repack32(src, n, row0, nb, dq, ds, 20, 2, -1, 4); }
export function repackQ5_0(src: usize, n: i32, row0: i32, nb: i32, dq: usize, ds: usize): void { repack32(src, n, row0, nb, dq, ds, 22, -1, 2, 6); }
export function repackQ5_1(src: usize, n: i32, row0: i32, nb: i32, dq: usize, ds: usize): void { repack32(src, n, row0, nb, dq, ds, 24, 2, 4, 8); }
export function repackIQ4_NL(src: usize, n: i32, row0: i32, nb: i32, dq: usize, ds: usize): void { repack32(src, n, row0, nb, dq, ds, 18, -1, -1, 2); }

// @ts-ignore: decorator
@inline
function row32(dq: usize, ds: usize, nb: i32, R: i32, dst: usize, fam: i32): void {
  // fam: 1 Q4_1, 2 Q5_0, 3 Q5_1, 4 IQ4_NL
  const g = R >> 2, r = R & 3;
  const qb: usize = fam == 2 || fam == 3 ? 80 : 64;
  const sb: usize = fam == 1 || fam == 3 ? 32 : 16;
  for (let b = 0; b < nb; b++) {
    const gb = <usize>g * <usize>nb + <usize>b;
    const sp = ds + gb * sb, qp = dq + gb * qb;
    const d = load<f32>(sp + (<usize>r << 2));
    const m: f32 = sb == 32 ? load<f32>(sp + 16 + (<usize>r << 2)) : 0;
    const h: u32 = qb == 80 ? load<u32>(qp + 64 + <usize>(r * 4)) : 0;
    for (let j = 0; j < 16; j++) {
      const v = <i32>load<u8>(qp + <usize>(r * 16 + (fam == 4 ? slot16(j) : j)));
      let q0 = v & 15, q1 = v >> 4;
      const o0 = dst + <usize>((b * 32 + j) << 2), o1 = dst + <usize>((b * 32 + j + 16) << 2);
      if (fam == 4) {
        store<f32>(o0, d * <f32>iq4v(q0));
        store<f32>(o1, d * <f32>iq4v(q1));
        continue;
      }
      if (qb == 80) {
        q0 |= <i32>((h >> <u32>j) << 4) & 0x10;
        q1 |= <i32>(h >> <u32>(j + 12)) & 0x10;
      }
      if (fam == 2) {
        store<f32>(o0, d * <f32>(q0 - 16));
        store<f32>(o1, d * <f32>(q1 - 16));
      } else {
        store<f32>(o0, <f32>q0 * d + m);
        store<f32>(o1, <f32>q1 * d + m);
      }
    }
  }
}

// @ts-ignore: decorator
@inline
function iq4v(i: i32): i32 {
  return i8x16.extract_lane_s(i8x16.swizzle(i8x16(-127, -104, -83, -65, -49, -35, -22, -10, 1, 13, 25, 38, 53, 69, 89, 113), i8x16.splat(<i8>i)), 0);
}

export function rowQ4_1(dq: usize, ds: usize, nb: i32, R: i32, dst: usize): void { row32(dq, ds, nb, R, dst, 1); }
export function rowQ5_0(dq: usize, ds: usize, nb: i32, R: i32, dst: usize): void { row32(dq, ds, nb, R, dst, 2); }
export function rowQ5_1(dq: usize, ds: usize, nb: i32, R: i32, dst: usize): void { row32(dq, ds, nb, R, dst, 3); }
export function rowIQ4_NL(dq: usize, ds: usize, nb: i32, R: i32, dst: usize): void { row32(dq, ds, nb, R, dst, 4); }

export function repackIQ4_XS(src: usize, n: i32, row0: i32, nsb: i32, dq: usize, ds: usize): void {
  for (let i = 0; i < n; i++) {
    const R = row0 + i, g = R >> 2, r = R & 3;
    for (let s = 0; s < nsb; s++) {
      const blk = src + <usize>(i * nsb + s) * 136;
      const gs = <usize>g * <usize>nsb + <usize>s;
      const m = ds + gs * 48;
      store<f32>(m + (<usize>r << 2), f16ToF32(load<u16>(blk)));
      const sh = <i32>load<u16>(blk, 2);
      for (let ib = 0; ib < 8; ib++) {
        const ls = ((<i32>load<u8>(blk + 4 + <usize>(ib >> 1)) >> (4 * (ib & 1))) & 0xf) | (((sh >> (2 * ib)) & 3) << 4);
        store<i8>(m + 16 + <usize>(r * 8 + ib), <i8>(ls - 32));
      }
      for (let ib = 0; ib < 8; ib++) copySlots(dq + gs * 512 + <usize>(r * 128 + ib * 16), blk + 8 + <usize>(ib * 16));
    }
  }
}

export function rowIQ4_XS(dq: usize, ds: usize, nsb: i32, R: i32, dst: usize): void {
  const g = R >> 2, r = R & 3;
  for (let s = 0; s < nsb; s++) {
    const gs = <usize>g * <usize>nsb + <usize>s;
    const m = ds + gs * 48;
    const d = load<f32>(m + (<usize>r << 2));
    const q = dq + gs * 512 + <usize>(r * 128);
    for (let ib = 0; ib < 8; ib++) {
      const dl = d * <f32>load<i8>(m + 16 + <usize>(r * 8 + ib));
      for (let j = 0; j < 16; j++) {
        const v = <i32>load<u8>(q + <usize>(ib * 16 + slot16(j)));
        store<f32>(dst + <usize>((s * 256 + ib * 32 + j) << 2), dl * <f32>iq4v(v & 15));
        store<f32>(dst + <usize>((s * 256 + ib * 32 + j + 16) << 2), dl * <f32>iq4v(v >> 4));
      }
    }
  }
}

// ---- Q2_K: scales[16] | qs[64] | d f16 | dmin f16 (84 bytes).
export function repackQ2_K(src: usize, n: i32, row0: i32, nsb: i32, dq: usize, ds: usize): void {
  for (let i = 0; i < n; i++) {
    const R = row0 + i, g = R >> 2, r = R & 3;
    for (let s = 0; s < nsb; s++) {
      const blk = src + <usize>(i * nsb + s) * 84;
      const gs = <usize>g * <usize>nsb + <usize>s;
      const m = ds + gs * 96;
      store<f32>(m + (<usize>r << 2), f16ToF32(load<u16>(blk, 80)));
      store<f32>(m + 16 + (<usize>r << 2), f16ToF32(load<u16>(blk, 82)));
      memory.copy(m + 32 + <usize>(r * 16), blk, 16);
      memory.copy(dq + gs * 256 + <usize>(r * 64), blk + 16, 64);
    }
  }
}

export function rowQ2_K(dq: usize, ds: usize, nsb: i32, R: i32, dst: usize): void {
  const g = R >> 2, r = R & 3;
  for (let s = 0; s < nsb; s++) {
    const gs = <usize>g * <usize>nsb + <usize>s;
    const m = ds + gs * 96;
    const d = load<f32>(m + (<usize>r << 2)), dmin = load<f32>(m + 16 + (<usize>r << 2));
    const sc = m + 32 + <usize>(r * 16), q = dq + gs * 256 + <usize>(r * 64);
    for (let n = 0; n < 2; n++) {
      for (let j = 0; j < 4; j++) {
        for (let h = 0; h < 2; h++) {
          const b = <i32>load<u8>(sc + <usize>(n * 8 + j * 2 + h));
          const dl = d * <f32>(b & 15), ml = dmin * <f32>(b >> 4);
          for (let l = 0; l < 16; l++) {
            const v = (<i32>load<u8>(q + <usize>(n * 32 + h * 16 + l)) >> (2 * j)) & 3;
            store<f32>(dst + <usize>((s * 256 + n * 128 + j * 32 + h * 16 + l) << 2), dl * <f32>v - ml);
          }
        }
      }
    }
  }
}

// ---- Q3_K: hmask[32] | qs[64] | scales[12] | d f16 (110 bytes).
export function repackQ3_K(src: usize, n: i32, row0: i32, nsb: i32, dq: usize, ds: usize): void {
  for (let i = 0; i < n; i++) {
    const R = row0 + i, g = R >> 2, r = R & 3;
    for (let s = 0; s < nsb; s++) {
      const blk = src + <usize>(i * nsb + s) * 110;
      const gs = <usize>g * <usize>nsb + <usize>s;
      const m = ds + gs * 80;
      store<f32>(m + (<usize>r << 2), f16ToF32(load<u16>(blk, 108)));
      const a0 = load<u32>(blk, 96), a1 = load<u32>(blk, 100), tmp = load<u32>(blk, 104);
      const k1: u32 = 0x03030303, k2: u32 = 0x0f0f0f0f;
      const s2 = ((a0 >> 4) & k2) | (((tmp >> 4) & k1) << 4);
      const s3 = ((a1 >> 4) & k2) | (((tmp >> 6) & k1) << 4);
      const s0 = (a0 & k2) | ((tmp & k1) << 4);
      const s1 = (a1 & k2) | (((tmp >> 2) & k1) << 4);
      const o = m + 16 + <usize>(r * 16);
      for (let k = 0; k < 4; k++) {
        store<i8>(o + <usize>k, <i8>(<i32>((s0 >> (8 * k)) & 0xff) - 32));
        store<i8>(o + 4 + <usize>k, <i8>(<i32>((s1 >> (8 * k)) & 0xff) - 32));
        store<i8>(o + 8 + <usize>k, <i8>(<i32>((s2 >> (8 * k)) & 0xff) - 32));
        store<i8>(o + 12 + <usize>k, <i8>(<i32>((s3 >> (8 * k)) & 0xff) - 32));
      }
      const qd = dq + gs * 384 + <usize>(r * 96);
      memory.copy(qd, blk + 32, 64);
      memory.copy(qd + 64, blk, 32);
    }
  }
}

export function rowQ3_K(dq: usize, ds: usize, nsb: i32, R: i32, dst: usize): void {
  const g = R >> 2, r = R & 3;
  for (let s = 0; s < nsb; s++) {
    const gs = <usize>g * <usize>nsb + <usize>s;
    const m = ds + gs * 80;
    const d = load<f32>(m + (<usize>r << 2));
    const sc = m + 16 + <usize>(r * 16), q = dq + gs * 384 + <usize>(r * 96), hm = q + 64;
    for (let n = 0; n < 2; n++) {
      for (let j = 0; j < 4; j++) {
        const bit = n * 4 + j;
        for (let h = 0; h < 2; h++) {
          const dl = d * <f32>load<i8>(sc + <usize>(n * 8 + j * 2 + h));
          for (let l = 0; l < 16; l++) {
            const e = h * 16 + l;
            const v = ((<i32>load<u8>(q + <usize>(n * 32 + e)) >> (2 * j)) & 3) - (((<i32>load<u8>(hm + <usize>e) >> bit) & 1) ? 0 : 4);
            store<f32>(dst + <usize>((s * 256 + n * 128 + j * 32 + e) << 2), dl * <f32>v);
          }
        }
      }
    }
  }
}
