// K-quants: 256-value super-blocks Q2_K … Q6_K and the activation type Q8_K. Dequantization is
// llama.cpp's `dequantize_row_*` in f32; quantization follows its reference quantizers
// (`quantize_row_q*_K_ref`, i.e. llama-quantize without an importance matrix) step by step in f32,
// so the produced bytes match llama.cpp's.

import { f32FromBits, f32Bits } from "./f16.ts";
import { type BlockCodec, fr, int8, nearestInt, readF16, readI16, signedAbsMax, writeF16 } from "./quant-common.ts";

const QK_K = 256;
const GROUP_MAX_EPS = fr(1e-15);

// Scratch for the quantizers (module-level so that quantizing a row allocates nothing).
const L = new Uint8Array(QK_K);
const Li = new Int8Array(QK_K);
const Laux = new Uint8Array(32);
const weights = new Float32Array(32);
const scales = new Float32Array(16);
const mins = new Float32Array(16);
const minOut = new Float32Array(1);

/** ggml `make_qx_quants` with rmse_type 1 and no importance weights (what the Q6_K ref uses). */
function makeQxQuants(n: number, nmax: number, x: Float32Array, xo: number, Lq: Int8Array, lo: number): number {
  const max = signedAbsMax(x, xo, n);
  if (Math.abs(max) < GROUP_MAX_EPS) {
    for (let i = 0; i < n; i++) Lq[lo + i] = 0;
    return 0;
  }
  let iscale = fr(-nmax / max);
  let sumlx = 0;
  let suml2 = 0;
  for (let i = 0; i < n; i++) {
    const xi = x[xo + i];
    const l = Math.max(-nmax, Math.min(nmax - 1, nearestInt(fr(iscale * xi))));
    Lq[lo + i] = l + nmax;
    const w = fr(xi * xi);
    sumlx = fr(sumlx + fr(fr(w * xi) * l));
    suml2 = fr(suml2 + fr(fr(w * l) * l));
  }
  let scale = suml2 !== 0 ? fr(sumlx / suml2) : 0;
  let best = fr(scale * sumlx);
  for (let is = -9; is <= 9; is++) {
    if (is === 0) continue;
    iscale = fr(-fr(nmax + fr(fr(0.1) * is)) / max);
    sumlx = 0;
    suml2 = 0;
    for (let i = 0; i < n; i++) {
      const xi = x[xo + i];
      const l = Math.max(-nmax, Math.min(nmax - 1, nearestInt(fr(iscale * xi))));
      const w = fr(xi * xi);
      sumlx = fr(sumlx + fr(fr(w * xi) * l));
      suml2 = fr(suml2 + fr(fr(w * l) * l));
    }
    if (suml2 > 0 && fr(sumlx * sumlx) > fr(best * suml2)) {
      for (let i = 0; i < n; i++) {
        Lq[lo + i] = nmax + Math.max(-nmax, Math.min(nmax - 1, nearestInt(fr(iscale * x[xo + i]))));
      }
      scale = fr(sumlx / suml2);
      best = fr(scale * sumlx);
    }
  }
  return scale;
}

/** ggml `make_q3_quants` with do_rmse (Q3_K ref): signed levels refined one value at a time. */
function makeQ3Quants(n: number, nmax: number, x: Float32Array, xo: number, Lq: Int8Array, lo: number): number {
  const max = signedAbsMax(x, xo, n);
  if (Math.abs(max) < GROUP_MAX_EPS) {
    for (let i = 0; i < n; i++) Lq[lo + i] = 0;
    return 0;
  }
  const iscale = fr(-nmax / max);
  let sumlx = 0;
  let suml2 = 0;
  for (let i = 0; i < n; i++) {
    const xi = x[xo + i];
    const l = Math.max(-nmax, Math.min(nmax - 1, nearestInt(fr(iscale * xi))));
    Lq[lo + i] = l;
    const w = fr(xi * xi);
    sumlx = fr(sumlx + fr(fr(w * xi) * l));
    suml2 = fr(suml2 + fr(fr(w * l) * l));
  }
  for (let itry = 0; itry < 5; itry++) {
    let changed = 0;
    for (let i = 0; i < n; i++) {
      const xi = x[xo + i];
      const li = Lq[lo + i];
      const w = fr(xi * xi);
      let slx = fr(sumlx - fr(fr(w * xi) * li));
      if (slx > 0) {
        let sl2 = fr(suml2 - fr(fr(w * li) * li));
        const nl = Math.max(-nmax, Math.min(nmax - 1, nearestInt(fr(fr(xi * sl2) / slx))));
        if (nl !== li) {
          slx = fr(slx + fr(fr(w * xi) * nl));
          sl2 = fr(sl2 + fr(fr(w * nl) * nl));
          if (sl2 > 0 && fr(fr(slx * slx) * suml2) > fr(fr(sumlx * sumlx) * sl2)) {
            Lq[lo + i] = nl;
            sumlx = slx;
            suml2 = sl2;
            changed++;
          }
        }
      }
    }
    if (changed === 0) break;
  }
  for (let i = 0; i < n; i++) Lq[lo + i] += nmax;
  return suml2 > 0 ? fr(sumlx / suml2) : 0;
}

/**
 * ggml `make_qkx2_quants`: an affine fit (scale, min ≤ 0) of unsigned levels 0..nmax, searching
 * nstep+1 candidate scales for the lowest weighted error. Returns the scale; −min goes to minOut[0].
 */
function makeQkx2Quants(
  n: number, nmax: number, x: Float32Array, xo: number, w: Float32Array, Lq: Uint8Array, lo: number,
  rmin: number, rdelta: number, nstep: number, useMad: boolean,
): number {
  let min = x[xo];
  let max = x[xo];
  let sumW = w[0];
  let sumX = fr(sumW * x[xo]);
  for (let i = 1; i < n; i++) {
    const xi = x[xo + i];
    if (xi < min) min = xi;
    if (xi > max) max = xi;
    sumW = fr(sumW + w[i]);
    sumX = fr(sumX + fr(w[i] * xi));
  }
  if (min > 0) min = 0;
  if (max === min) {
    for (let i = 0; i < n; i++) Lq[lo + i] = 0;
    minOut[0] = -min;
    return 0;
  }
  let iscale = fr(nmax / fr(max - min));
  let scale = fr(1 / iscale);
  let bestError = 0;
  for (let i = 0; i < n; i++) {
    const l = Math.max(0, Math.min(nmax, nearestInt(fr(iscale * fr(x[xo + i] - min)))));
    Lq[lo + i] = l;
    let diff = fr(fr(fr(scale * l) + min) - x[xo + i]);
    diff = useMad ? Math.abs(diff) : fr(diff * diff);
    bestError = fr(bestError + fr(w[i] * diff));
  }
  if (nstep < 1) {
    minOut[0] = -min;
    return scale;
  }
  for (let is = 0; is <= nstep; is++) {
    // `min` moves with the best fit so far, and ggml divides by the current max − min.
    iscale = fr(fr(fr(rmin + fr(rdelta * is)) + nmax) / fr(max - min));
    let sumL = 0;
    let sumL2 = 0;
    let sumXL = 0;
    for (let i = 0; i < n; i++) {
      const xi = x[xo + i];
      const l = Math.max(0, Math.min(nmax, nearestInt(fr(iscale * fr(xi - min)))));
      Laux[i] = l;
      const wl = fr(w[i] * l);
      sumL = fr(sumL + wl);
      sumL2 = fr(sumL2 + fr(wl * l));
      sumXL = fr(sumXL + fr(wl * xi));
    }
    const D = fr(fr(sumW * sumL2) - fr(sumL * sumL));
    if (D > 0) {
      let thisScale = fr(fr(fr(sumW * sumXL) - fr(sumX * sumL)) / D);
      let thisMin = fr(fr(fr(sumL2 * sumX) - fr(sumL * sumXL)) / D);
      if (thisMin > 0) {
        thisMin = 0;
        thisScale = fr(sumXL / sumL2);
      }
      let curError = 0;
      for (let i = 0; i < n; i++) {
        let diff = fr(fr(fr(thisScale * Laux[i]) + thisMin) - x[xo + i]);
        diff = useMad ? Math.abs(diff) : fr(diff * diff);
        curError = fr(curError + fr(w[i] * diff));
      }
      if (curError < bestError) {
        for (let i = 0; i < n; i++) Lq[lo + i] = Laux[i];
        bestError = curError;
        scale = thisScale;
        min = thisMin;
      }
    }
  }
  minOut[0] = -min;
  return scale;
}

/** 6-bit scale and min number j of a Q4_K/Q5_K 12-byte scales field (ggml `get_scale_min_k4`). */
function scaleK4(q: Uint8Array, o: number, j: number): number {
  return j < 4 ? q[o + j] & 63 : (q[o + j + 4] & 0xf) | ((q[o + j - 4] >> 6) << 4);
}
function minK4(q: Uint8Array, o: number, j: number): number {
  return j < 4 ? q[o + j + 4] & 63 : (q[o + j + 4] >> 4) | ((q[o + j] >> 6) << 4);
}

/** Signed 6-bit scale number j (0..15) of a Q3_K 12-byte scales field, already minus 32. */
function scaleQ3(q: Uint8Array, o: number, j: number): number {
  const low = j < 8 ? q[o + j] & 0xf : q[o + j - 8] >> 4;
  const high = (q[o + 8 + (j & 3)] >> (2 * (j >> 2))) & 3;
  return (low | (high << 4)) - 32;
}

/** Packs 2-bit levels L[0..255] the way Q2_K and Q3_K store them (4 levels 32 apart per byte). */
function pack2bit(out: Uint8Array, qo: number): void {
  for (let j = 0; j < QK_K; j += 128) {
    for (let l = 0; l < 32; l++) {
      out[qo + j / 4 + l] = L[j + l] | (L[j + l + 32] << 2) | (L[j + l + 64] << 4) | (L[j + l + 96] << 6);
    }
  }
}

// Q2_K: scales[16] (low nibble scale, high nibble min) | qs[64] | d f16 | dmin f16 = 84 bytes.
export const q2_K: BlockCodec = {
  dequantizeRow(src, so, n, out, oo) {
    for (let b = 0; b < n / QK_K; b++, so += 84) {
      const d = readF16(src, so + 80);
      const min = readF16(src, so + 82);
      let is = 0;
      let q = so + 16;
      for (let h = 0; h < QK_K; h += 128, q += 32) {
        for (let shift = 0; shift < 8; shift += 2) {
          for (let half = 0; half < 32; half += 16) {
            const sc = src[so + is++];
            const dl = fr(d * (sc & 0xf));
            const ml = fr(min * (sc >> 4));
            for (let l = 0; l < 16; l++) out[oo++] = fr(dl * ((src[q + half + l] >> shift) & 3)) - ml;
          }
        }
      }
    }
  },
  quantizeRow(x, xo, n, out, oo) {
    for (let b = 0; b < n / QK_K; b++, xo += QK_K, oo += 84) {
      let maxScale = 0;
      let maxMin = 0;
      for (let j = 0; j < 16; j++) {
        for (let l = 0; l < 16; l++) weights[l] = Math.abs(x[xo + 16 * j + l]);
        scales[j] = makeQkx2Quants(16, 3, x, xo + 16 * j, weights, L, 16 * j, fr(-0.5), fr(0.1), 15, true);
        mins[j] = minOut[0];
        if (scales[j] > maxScale) maxScale = scales[j];
        if (mins[j] > maxMin) maxMin = mins[j];
      }
      if (maxScale > 0) {
        const iscale = fr(15 / maxScale);
        for (let j = 0; j < 16; j++) out[oo + j] = nearestInt(fr(iscale * scales[j])) & 0xff;
        writeF16(out, oo + 80, fr(maxScale / 15));
      } else {
        for (let j = 0; j < 16; j++) out[oo + j] = 0;
        writeF16(out, oo + 80, 0);
      }
      if (maxMin > 0) {
        const iscale = fr(15 / maxMin);
        for (let j = 0; j < 16; j++) out[oo + j] |= nearestInt(fr(iscale * mins[j])) << 4;
        writeF16(out, oo + 82, fr(maxMin / 15));
      } else {
        writeF16(out, oo + 82, 0);
      }
      const dAll = readF16(out, oo + 80);
      const mAll = readF16(out, oo + 82);
      for (let j = 0; j < 16; j++) {
        const d = fr(dAll * (out[oo + j] & 0xf));
        if (d === 0) continue;
        const dm = fr(mAll * (out[oo + j] >> 4));
        for (let i = 0; i < 16; i++) {
          L[16 * j + i] = Math.max(0, Math.min(3, nearestInt(fr(fr(x[xo + 16 * j + i] + dm) / d))));
        }
      }
      pack2bit(out, oo + 16);
    }
  },
};

// Q3_K: hmask[32] | qs[64] | scales[12] | d f16 = 110 bytes.
export const q3_K: BlockCodec = {
  dequantizeRow(src, so, n, out, oo) {
    for (let b = 0; b < n / QK_K; b++, so += 110) {
      const dAll = readF16(src, so + 108);
      let q = so + 32;
      let m = 1;
      let is = 0;
      for (let h = 0; h < QK_K; h += 128, q += 32) {
        for (let shift = 0; shift < 8; shift += 2, m <<= 1) {
          for (let half = 0; half < 32; half += 16) {
            const dl = fr(dAll * scaleQ3(src, so + 96, is++));
            for (let l = half; l < half + 16; l++) {
              const v = ((src[q + l] >> shift) & 3) - (src[so + l] & m ? 0 : 4);
              out[oo++] = dl * v;
            }
          }
        }
      }
    }
  },
  quantizeRow(x, xo, n, out, oo) {
    for (let b = 0; b < n / QK_K; b++, xo += QK_K, oo += 110) {
      let maxScale = 0;
      let amax = 0;
      for (let j = 0; j < 16; j++) {
        scales[j] = makeQ3Quants(16, 4, x, xo + 16 * j, Li, 16 * j);
        const s = Math.abs(scales[j]);
        if (s > amax) {
          amax = s;
          maxScale = scales[j];
        }
      }
      const so = oo + 96;
      out.fill(0, so, so + 12);
      if (maxScale !== 0) {
        const iscale = fr(-32 / maxScale);
        for (let j = 0; j < 16; j++) {
          let l = Math.max(-32, Math.min(31, int8(nearestInt(fr(iscale * scales[j]))))) + 32;
          if (j < 8) out[so + j] = l & 0xf;
          else out[so + j - 8] |= (l & 0xf) << 4;
          l >>= 4;
          out[so + 8 + (j & 3)] |= l << (2 * (j >> 2));
        }
        writeF16(out, oo + 108, fr(1 / iscale));
      } else {
        writeF16(out, oo + 108, 0);
      }
      const dAll = readF16(out, oo + 108);
      for (let j = 0; j < 16; j++) {
        const d = fr(dAll * scaleQ3(out, so, j));
        if (d === 0) continue;
        for (let i = 0; i < 16; i++) {
          Li[16 * j + i] = Math.max(-4, Math.min(3, nearestInt(fr(x[xo + 16 * j + i] / d)))) + 4;
        }
      }
      out.fill(0, oo, oo + 32);
      let m = 0;
      let hm = 1;
      for (let j = 0; j < QK_K; j++) {
        let l = Li[j];
        if (l > 3) {
          out[oo + m] |= hm;
          l -= 4;
        }
        L[j] = l;
        if (++m === 32) {
          m = 0;
          hm <<= 1;
        }
      }
      pack2bit(out, oo + 32);
    }
  },
};

/** Quantizes the 8 sub-block (scale, min) pairs of Q4_K/Q5_K into d, dmin and the 12-byte field. */
function packScalesK4(maxScale: number, maxMin: number, out: Uint8Array, oo: number): void {
  const invScale = maxScale > 0 ? fr(63 / maxScale) : 0;
  const invMin = maxMin > 0 ? fr(63 / maxMin) : 0;
  const s = oo + 4;
  for (let j = 0; j < 8; j++) {
    const ls = Math.min(63, nearestInt(fr(invScale * scales[j])) & 0xff);
    const lm = Math.min(63, nearestInt(fr(invMin * mins[j])) & 0xff);
    if (j < 4) {
      out[s + j] = ls;
      out[s + j + 4] = lm;
    } else {
      out[s + j + 4] = (ls & 0xf) | ((lm & 0xf) << 4);
      out[s + j - 4] |= (ls >> 4) << 6;
      out[s + j] |= (lm >> 4) << 6;
    }
  }
  writeF16(out, oo, fr(maxScale / 63));
  writeF16(out, oo + 2, fr(maxMin / 63));
}

/** The Q4_K/Q5_K reference search: 8 sub-blocks of 32 with weights av|x| + |x_i|. */
function fitSubBlocksK4(x: Float32Array, xo: number, nmax: number, rmin: number, nstep: number): [number, number] {
  let maxScale = 0;
  let maxMin = 0;
  for (let j = 0; j < 8; j++) {
    let sumX2 = 0;
    for (let l = 0; l < 32; l++) sumX2 = fr(sumX2 + fr(x[xo + 32 * j + l] * x[xo + 32 * j + l]));
    const avX = fr(Math.sqrt(fr(sumX2 / 32)));
    for (let l = 0; l < 32; l++) weights[l] = fr(avX + Math.abs(x[xo + 32 * j + l]));
    scales[j] = makeQkx2Quants(32, nmax, x, xo + 32 * j, weights, L, 32 * j, rmin, fr(0.1), nstep, false);
    mins[j] = minOut[0];
    if (scales[j] > maxScale) maxScale = scales[j];
    if (mins[j] > maxMin) maxMin = mins[j];
  }
  return [maxScale, maxMin];
}

/** Final levels against the stored (f16/6-bit) scales, into L. */
function requantizeK4(x: Float32Array, xo: number, out: Uint8Array, oo: number, nmax: number): void {
  const dAll = readF16(out, oo);
  const mAll = readF16(out, oo + 2);
  for (let j = 0; j < 8; j++) {
    const d = fr(dAll * scaleK4(out, oo + 4, j));
    if (d === 0) continue;
    const dm = fr(mAll * minK4(out, oo + 4, j));
    for (let i = 0; i < 32; i++) {
      L[32 * j + i] = Math.max(0, Math.min(nmax, nearestInt(fr(fr(x[xo + 32 * j + i] + dm) / d))));
    }
  }
}

// Q4_K: d f16 | dmin f16 | scales[12] | qs[128] = 144 bytes.
export const q4_K: BlockCodec = {
  dequantizeRow(src, so, n, out, oo) {
    for (let b = 0; b < n / QK_K; b++, so += 144) {
      const d = readF16(src, so);
      const min = readF16(src, so + 2);
      let q = so + 16;
      for (let is = 0; is < 8; is += 2, q += 32) {
        const d1 = fr(d * scaleK4(src, so + 4, is));
        const m1 = fr(min * minK4(src, so + 4, is));
        const d2 = fr(d * scaleK4(src, so + 4, is + 1));
        const m2 = fr(min * minK4(src, so + 4, is + 1));
        for (let l = 0; l < 32; l++) out[oo++] = fr(d1 * (src[q + l] & 0xf)) - m1;
        for (let l = 0; l < 32; l++) out[oo++] = fr(d2 * (src[q + l] >> 4)) - m2;
      }
    }
  },
  quantizeRow(x, xo, n, out, oo) {
    for (let b = 0; b < n / QK_K; b++, xo += QK_K, oo += 144) {
      const [maxScale, maxMin] = fitSubBlocksK4(x, xo, 15, fr(-1), 20);
      packScalesK4(maxScale, maxMin, out, oo);
      requantizeK4(x, xo, out, oo, 15);
      let q = oo + 16;
      for (let j = 0; j < QK_K; j += 64, q += 32) {
        for (let l = 0; l < 32; l++) out[q + l] = L[j + l] | (L[j + l + 32] << 4);
      }
    }
  },
};

// Q5_K: d f16 | dmin f16 | scales[12] | qh[32] | qs[128] = 176 bytes.
export const q5_K: BlockCodec = {
  dequantizeRow(src, so, n, out, oo) {
    for (let b = 0; b < n / QK_K; b++, so += 176) {
      const d = readF16(src, so);
      const min = readF16(src, so + 2);
      const qh = so + 16;
      let ql = so + 48;
      let u1 = 1;
      let u2 = 2;
      for (let is = 0; is < 8; is += 2, ql += 32, u1 <<= 2, u2 <<= 2) {
        const d1 = fr(d * scaleK4(src, so + 4, is));
        const m1 = fr(min * minK4(src, so + 4, is));
        const d2 = fr(d * scaleK4(src, so + 4, is + 1));
        const m2 = fr(min * minK4(src, so + 4, is + 1));
        for (let l = 0; l < 32; l++) out[oo++] = fr(d1 * ((src[ql + l] & 0xf) + (src[qh + l] & u1 ? 16 : 0))) - m1;
        for (let l = 0; l < 32; l++) out[oo++] = fr(d2 * ((src[ql + l] >> 4) + (src[qh + l] & u2 ? 16 : 0))) - m2;
      }
    }
  },
  quantizeRow(x, xo, n, out, oo) {
    for (let b = 0; b < n / QK_K; b++, xo += QK_K, oo += 176) {
      const [maxScale, maxMin] = fitSubBlocksK4(x, xo, 31, fr(-0.5), 15);
      packScalesK4(maxScale, maxMin, out, oo);
      requantizeK4(x, xo, out, oo, 31);
      const qh = oo + 16;
      let ql = oo + 48;
      out.fill(0, qh, qh + 32);
      let m1 = 1;
      let m2 = 2;
      for (let n0 = 0; n0 < QK_K; n0 += 64, ql += 32, m1 <<= 2, m2 <<= 2) {
        for (let j = 0; j < 32; j++) {
          let l1 = L[n0 + j];
          if (l1 > 15) {
            l1 -= 16;
            out[qh + j] |= m1;
          }
          let l2 = L[n0 + j + 32];
          if (l2 > 15) {
            l2 -= 16;
            out[qh + j] |= m2;
          }
          out[ql + j] = l1 | (l2 << 4);
        }
      }
    }
  },
};

// Q6_K: ql[128] | qh[64] | scales[16] (int8) | d f16 = 210 bytes.
export const q6_K: BlockCodec = {
  dequantizeRow(src, so, n, out, oo) {
    for (let b = 0; b < n / QK_K; b++, so += 210) {
      const d = readF16(src, so + 208);
      let ql = so;
      let qh = so + 128;
      let sc = so + 192;
      for (let h = 0; h < QK_K; h += 128, ql += 64, qh += 32, sc += 8, oo += 128) {
        for (let l = 0; l < 32; l++) {
          const is = l >> 4;
          const hb = src[qh + l];
          const q1 = ((src[ql + l] & 0xf) | ((hb & 3) << 4)) - 32;
          const q2 = ((src[ql + l + 32] & 0xf) | (((hb >> 2) & 3) << 4)) - 32;
          const q3 = ((src[ql + l] >> 4) | (((hb >> 4) & 3) << 4)) - 32;
          const q4 = ((src[ql + l + 32] >> 4) | (((hb >> 6) & 3) << 4)) - 32;
          out[oo + l] = fr(d * int8(src[sc + is])) * q1;
          out[oo + l + 32] = fr(d * int8(src[sc + is + 2])) * q2;
          out[oo + l + 64] = fr(d * int8(src[sc + is + 4])) * q3;
          out[oo + l + 96] = fr(d * int8(src[sc + is + 6])) * q4;
        }
      }
    }
  },
  quantizeRow(x, xo, n, out, oo) {
    for (let b = 0; b < n / QK_K; b++, xo += QK_K, oo += 210) {
      let maxScale = 0;
      let maxAbsScale = 0;
      for (let ib = 0; ib < 16; ib++) {
        const scale = makeQxQuants(16, 32, x, xo + 16 * ib, Li, 16 * ib);
        scales[ib] = scale;
        if (Math.abs(scale) > maxAbsScale) {
          maxAbsScale = Math.abs(scale);
          maxScale = scale;
        }
      }
      if (maxAbsScale < GROUP_MAX_EPS) {
        out.fill(0, oo, oo + 210);
        continue;
      }
      const iscale = fr(-128 / maxScale);
      writeF16(out, oo + 208, fr(1 / iscale));
      for (let ib = 0; ib < 16; ib++) out[oo + 192 + ib] = Math.min(127, nearestInt(fr(iscale * scales[ib]))) & 0xff;
      const dAll = readF16(out, oo + 208);
      for (let j = 0; j < 16; j++) {
        const d = fr(dAll * int8(out[oo + 192 + j]));
        if (d === 0) continue;
        for (let i = 0; i < 16; i++) {
          Li[16 * j + i] = Math.max(-32, Math.min(31, nearestInt(fr(x[xo + 16 * j + i] / d)))) + 32;
        }
      }
      let ql = oo;
      let qh = oo + 128;
      for (let j = 0; j < QK_K; j += 128, ql += 64, qh += 32) {
        for (let l = 0; l < 32; l++) {
          const a = Li[j + l], c = Li[j + l + 32], e = Li[j + l + 64], g = Li[j + l + 96];
          out[ql + l] = (a & 0xf) | ((e & 0xf) << 4);
          out[ql + l + 32] = (c & 0xf) | ((g & 0xf) << 4);
          out[qh + l] = (a >> 4) | ((c >> 4) << 2) | ((e >> 4) << 4) | ((g >> 4) << 6);
        }
      }
    }
  },
};

// Q8_K: d f32 | qs[256] int8 | bsums[16] int16 = 292 bytes (the activation type of K-quant dots).
export const q8_K: BlockCodec = {
  dequantizeRow(src, so, n, out, oo) {
    for (let b = 0; b < n / QK_K; b++, so += 292) {
      const d = readF32(src, so);
      for (let j = 0; j < QK_K; j++) out[oo++] = d * int8(src[so + 4 + j]);
    }
  },
  quantizeRow(x, xo, n, out, oo) {
    for (let b = 0; b < n / QK_K; b++, xo += QK_K, oo += 292) {
      const max = signedAbsMax(x, xo, QK_K);
      if (max === 0) {
        out.fill(0, oo, oo + 292);
        continue;
      }
      const iscale = fr(-127 / max);
      for (let j = 0; j < QK_K; j++) out[oo + 4 + j] = Math.min(127, nearestInt(fr(iscale * x[xo + j]))) & 0xff;
      for (let j = 0; j < 16; j++) {
        let sum = 0;
        for (let i = 0; i < 16; i++) sum += int8(out[oo + 4 + 16 * j + i]);
        out[oo + 260 + 2 * j] = sum & 0xff;
        out[oo + 261 + 2 * j] = (sum >> 8) & 0xff;
      }
      writeF32(out, oo, fr(1 / iscale));
    }
  },
};

export function readF32(b: Uint8Array, o: number): number {
  return f32FromBits((b[o] | (b[o + 1] << 8) | (b[o + 2] << 16) | (b[o + 3] << 24)) >>> 0);
}

function writeF32(b: Uint8Array, o: number, v: number): void {
  const u = f32Bits(v);
  b[o] = u & 0xff;
  b[o + 1] = (u >>> 8) & 0xff;
  b[o + 2] = (u >>> 16) & 0xff;
  b[o + 3] = (u >>> 24) & 0xff;
}

/** Q8_K block sums (int16) without decoding: used by the K-quant dot products. */
export function q8KBlockSum(b: Uint8Array, blockOffset: number, j: number): number {
  return readI16(b, blockOffset + 260 + 2 * j);
}

