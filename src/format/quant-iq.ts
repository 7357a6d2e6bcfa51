// Non-linear 4-bit quants: IQ4_NL (32-value blocks, one f16 scale) and IQ4_XS (256-value
// super-blocks with 6-bit sub-block scales). Levels come from a fixed 16-entry table. Quantization
// follows llama.cpp's `quantize_iq4_nl` / `quantize_iq4_xs` without importance matrix (what
// llama-quantize runs), including its 7-step scale search.

import { type BlockCodec, fr, nearestInt, readF16, readU16, writeF16 } from "./quant-common.ts";

export const IQ4NL_VALUES: Int8Array = Int8Array.of(-127, -104, -83, -65, -49, -35, -22, -10, 1, 13, 25, 38, 53, 69, 89, 113);

const GROUP_MAX_EPS = fr(1e-15);
const NTRY = 7;

const L = new Uint8Array(256);
const weight = new Float32Array(32);
const scales = new Float32Array(8);

/** Nearest table level (ties to the upper one), as ggml `best_index_int8` on the sorted table. */
function bestIndex(x: number): number {
  const x2 = x + x;
  let idx = 0;
  for (let step = 8; step > 0; step >>= 1) {
    const j = idx + step;
    if (x2 >= IQ4NL_VALUES[j - 1] + IQ4NL_VALUES[j]) idx = j;
  }
  return idx;
}

/** Best scale for one 32-value sub-block (levels go to L[lo..]); 0 for an all-zero sub-block. */
function fitBlock(x: Float32Array, xo: number, lo: number): number {
  const v0 = IQ4NL_VALUES[0];
  let amax = 0;
  let max = 0;
  for (let j = 0; j < 32; j++) {
    const v = x[xo + j];
    weight[j] = fr(v * v);
    if (Math.abs(v) > amax) {
      amax = Math.abs(v);
      max = v;
    }
  }
  if (amax < GROUP_MAX_EPS) return 0;
  let d = fr(-max / v0);
  let id = fr(1 / d);
  let sumqx = 0;
  let sumq2 = 0;
  for (let j = 0; j < 32; j++) {
    const l = bestIndex(fr(id * x[xo + j]));
    L[lo + j] = l;
    const q = IQ4NL_VALUES[l];
    const wq = fr(weight[j] * q);
    sumqx = fr(sumqx + fr(wq * x[xo + j]));
    sumq2 = fr(sumq2 + fr(wq * q));
  }
  d = sumq2 > 0 ? fr(sumqx / sumq2) : 0;
  let best = fr(d * sumqx);
  for (let itry = -NTRY; itry <= NTRY; itry++) {
    id = fr((itry + v0) / max);
    sumqx = 0;
    sumq2 = 0;
    for (let j = 0; j < 32; j++) {
      const q = IQ4NL_VALUES[bestIndex(fr(id * x[xo + j]))];
      const wq = fr(weight[j] * q);
      sumqx = fr(sumqx + fr(wq * x[xo + j]));
      sumq2 = fr(sumq2 + fr(wq * q));
    }
    if (sumq2 > 0 && fr(sumqx * sumqx) > fr(best * sumq2)) {
      d = fr(sumqx / sumq2);
      best = fr(d * sumqx);
    }
  }
  return d;
}

function packNibbles(out: Uint8Array, qo: number, n: number): void {
  for (let i = 0; i < n / 32; i++) {
    for (let j = 0; j < 16; j++) out[qo + 16 * i + j] = L[32 * i + j] | (L[32 * i + 16 + j] << 4);
  }
}

// IQ4_NL: d f16 | qs[16] = 18 bytes.
export const iq4_nl: BlockCodec = {
  dequantizeRow(src, so, n, out, oo) {
    for (let b = 0; b < n / 32; b++, so += 18, oo += 32) {
      const d = readF16(src, so);
      for (let j = 0; j < 16; j++) {
        const q = src[so + 2 + j];
        out[oo + j] = d * IQ4NL_VALUES[q & 0xf];
        out[oo + j + 16] = d * IQ4NL_VALUES[q >> 4];
      }
    }
  },
  quantizeRow(x, xo, n, out, oo) {
    for (let b = 0; b < n / 32; b++, xo += 32, oo += 18) {
      const d = fitBlock(x, xo, 0);
      writeF16(out, oo, d);
      const id = d !== 0 ? fr(1 / d) : 0;
      for (let j = 0; j < 32; j++) L[j] = bestIndex(fr(id * x[xo + j]));
      packNibbles(out, oo + 2, 32);
    }
  },
};

// IQ4_XS: d f16 | scales_h u16 | scales_l[4] | qs[128] = 136 bytes.
export const iq4_xs: BlockCodec = {
  dequantizeRow(src, so, n, out, oo) {
    for (let b = 0; b < n / 256; b++, so += 136) {
      const d = readF16(src, so);
      const sh = readU16(src, so + 2);
      for (let ib = 0; ib < 8; ib++, oo += 32) {
        const ls = ((src[so + 4 + (ib >> 1)] >> (4 * (ib & 1))) & 0xf) | (((sh >> (2 * ib)) & 3) << 4);
        const dl = fr(d * (ls - 32));
        const q = so + 8 + 16 * ib;
        for (let j = 0; j < 16; j++) {
          out[oo + j] = dl * IQ4NL_VALUES[src[q + j] & 0xf];
          out[oo + j + 16] = dl * IQ4NL_VALUES[src[q + j] >> 4];
        }
      }
    }
  },
  quantizeRow(x, xo, n, out, oo) {
    for (let b = 0; b < n / 256; b++, xo += 256, oo += 136) {
      let maxScale = 0;
      let amaxScale = 0;
      for (let ib = 0; ib < 8; ib++) {
        const d = fitBlock(x, xo + 32 * ib, 32 * ib);
        scales[ib] = d;
        if (Math.abs(d) > amaxScale) {
          amaxScale = Math.abs(d);
          maxScale = d;
        }
      }
      const d = fr(-maxScale / 32);
      writeF16(out, oo, d);
      const id = d !== 0 ? fr(1 / d) : 0;
      let sh = 0;
      for (let ib = 0; ib < 8; ib++) {
        const l = Math.max(-32, Math.min(31, nearestInt(fr(id * scales[ib]))));
        const dl = fr(d * l);
        const idl = dl !== 0 ? fr(1 / dl) : 0;
        for (let j = 0; j < 32; j++) L[32 * ib + j] = bestIndex(fr(idl * x[xo + 32 * ib + j]));
        const u = l + 32;
        if ((ib & 1) === 0) out[oo + 4 + (ib >> 1)] = u & 0xf;
        else out[oo + 4 + (ib >> 1)] |= (u & 0xf) << 4;
        sh |= (u >> 4) << (2 * ib);
      }
      out[oo + 2] = sh & 0xff;
      out[oo + 3] = sh >> 8;
      packNibbles(out, oo + 8, 256);
    }
  },
};
