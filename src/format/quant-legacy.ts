// The 32-value GGML blocks: Q4_0, Q4_1, Q5_0, Q5_1, Q8_0, Q8_1. Quantizers reproduce llama.cpp's
// `quantize_row_*_ref` bit for bit (the functions llama-quantize uses when there is no importance
// matrix), including its C casts: `(int8_t)(x + 8.5f)` truncates, `roundf` rounds halves away.

import { type BlockCodec, fr, int8, readF16, readU32, roundAway, signedAbsMax, writeF16, writeU32 } from "./quant-common.ts";

const QK = 32;

/** Index of the first value of largest magnitude, keeping its sign (ggml's `max` for Q4_0/Q5_0). */
function absMax(x: Float32Array, o: number): number {
  let amax = 0;
  for (let j = 0; j < QK; j++) amax = Math.max(amax, Math.abs(x[o + j]));
  return amax;
}

export const q4_0: BlockCodec = {
  dequantizeRow(src, so, n, out, oo) {
    for (let b = 0; b < n / QK; b++, so += 18, oo += QK) {
      const d = readF16(src, so);
      for (let j = 0; j < 16; j++) {
        const q = src[so + 2 + j];
        out[oo + j] = ((q & 0xf) - 8) * d;
        out[oo + j + 16] = ((q >> 4) - 8) * d;
      }
    }
  },
  quantizeRow(x, xo, n, out, oo) {
    for (let b = 0; b < n / QK; b++, xo += QK, oo += 18) {
      const d = fr(signedAbsMax(x, xo, QK) / -8);
      const id = d !== 0 ? fr(1 / d) : 0;
      writeF16(out, oo, d);
      for (let j = 0; j < 16; j++) {
        const a = Math.min(15, Math.trunc(fr(fr(x[xo + j] * id) + 8.5)));
        const c = Math.min(15, Math.trunc(fr(fr(x[xo + j + 16] * id) + 8.5)));
        out[oo + 2 + j] = a | (c << 4);
      }
    }
  },
};

export const q4_1: BlockCodec = {
  dequantizeRow(src, so, n, out, oo) {
    for (let b = 0; b < n / QK; b++, so += 20, oo += QK) {
      const d = readF16(src, so);
      const m = readF16(src, so + 2);
      for (let j = 0; j < 16; j++) {
        const q = src[so + 4 + j];
        out[oo + j] = (q & 0xf) * d + m;
        out[oo + j + 16] = (q >> 4) * d + m;
      }
    }
  },
  quantizeRow(x, xo, n, out, oo) {
    for (let b = 0; b < n / QK; b++, xo += QK, oo += 20) {
      const [min, max] = blockMinMax(x, xo);
      const d = fr(fr(max - min) / 15);
      const id = d !== 0 ? fr(1 / d) : 0;
      writeF16(out, oo, d);
      writeF16(out, oo + 2, min);
      for (let j = 0; j < 16; j++) {
        const a = Math.min(15, Math.trunc(fr(fr(fr(x[xo + j] - min) * id) + 0.5)));
        const c = Math.min(15, Math.trunc(fr(fr(fr(x[xo + j + 16] - min) * id) + 0.5)));
        out[oo + 4 + j] = a | (c << 4);
      }
    }
  },
};

export const q5_0: BlockCodec = {
  dequantizeRow(src, so, n, out, oo) {
    for (let b = 0; b < n / QK; b++, so += 22, oo += QK) {
      const d = readF16(src, so);
      const qh = readU32(src, so + 2);
      for (let j = 0; j < 16; j++) {
        const q = src[so + 6 + j];
        const h0 = ((qh >>> j) << 4) & 0x10;
        const h1 = (qh >>> (j + 12)) & 0x10;
        out[oo + j] = (((q & 0xf) | h0) - 16) * d;
        out[oo + j + 16] = (((q >> 4) | h1) - 16) * d;
      }
    }
  },
  quantizeRow(x, xo, n, out, oo) {
    for (let b = 0; b < n / QK; b++, xo += QK, oo += 22) {
      const d = fr(signedAbsMax(x, xo, QK) / -16);
      const id = d !== 0 ? fr(1 / d) : 0;
      writeF16(out, oo, d);
      let qh = 0;
      for (let j = 0; j < 16; j++) {
        const a = Math.min(31, Math.trunc(fr(fr(x[xo + j] * id) + 16.5)));
        const c = Math.min(31, Math.trunc(fr(fr(x[xo + j + 16] * id) + 16.5)));
        out[oo + 6 + j] = (a & 0xf) | ((c & 0xf) << 4);
        qh |= ((a & 0x10) >>> 4) << j;
        qh |= ((c & 0x10) >>> 4) << (j + 16);
      }
      writeU32(out, oo + 2, qh >>> 0);
    }
  },
};

export const q5_1: BlockCodec = {
  dequantizeRow(src, so, n, out, oo) {
    for (let b = 0; b < n / QK; b++, so += 24, oo += QK) {
      const d = readF16(src, so);
      const m = readF16(src, so + 2);
      const qh = readU32(src, so + 4);
      for (let j = 0; j < 16; j++) {
        const q = src[so + 8 + j];
        const h0 = ((qh >>> j) << 4) & 0x10;
        const h1 = (qh >>> (j + 12)) & 0x10;
        out[oo + j] = ((q & 0xf) | h0) * d + m;
        out[oo + j + 16] = ((q >> 4) | h1) * d + m;
      }
    }
  },
  quantizeRow(x, xo, n, out, oo) {
    for (let b = 0; b < n / QK; b++, xo += QK, oo += 24) {
      const [min, max] = blockMinMax(x, xo);
      const d = fr(fr(max - min) / 31);
      const id = d !== 0 ? fr(1 / d) : 0;
      writeF16(out, oo, d);
      writeF16(out, oo + 2, min);
      let qh = 0;
      for (let j = 0; j < 16; j++) {
        // (uint8_t) cast in C: truncation, no clamp (the largest value is 31.5 - ε).
        const a = Math.trunc(fr(fr(fr(x[xo + j] - min) * id) + 0.5)) & 0xff;
        const c = Math.trunc(fr(fr(fr(x[xo + j + 16] - min) * id) + 0.5)) & 0xff;
        out[oo + 8 + j] = (a & 0xf) | ((c & 0xf) << 4);
        qh |= ((a & 0x10) >>> 4) << j;
        qh |= ((c & 0x10) >>> 4) << (j + 16);
      }
      writeU32(out, oo + 4, qh >>> 0);
    }
  },
};

export const q8_0: BlockCodec = {
  dequantizeRow(src, so, n, out, oo) {
    for (let b = 0; b < n / QK; b++, so += 34, oo += QK) {
      const d = readF16(src, so);
      for (let j = 0; j < QK; j++) out[oo + j] = int8(src[so + 2 + j]) * d;
    }
  },
  quantizeRow(x, xo, n, out, oo) {
    for (let b = 0; b < n / QK; b++, xo += QK, oo += 34) {
      const d = fr(absMax(x, xo) / 127);
      const id = d !== 0 ? fr(1 / d) : 0;
      writeF16(out, oo, d);
      for (let j = 0; j < QK; j++) out[oo + 2 + j] = roundAway(fr(x[xo + j] * id)) & 0xff;
    }
  },
};

export const q8_1: BlockCodec = {
  dequantizeRow(src, so, n, out, oo) {
    for (let b = 0; b < n / QK; b++, so += 36, oo += QK) {
      const d = readF16(src, so);
      for (let j = 0; j < QK; j++) out[oo + j] = int8(src[so + 4 + j]) * d;
    }
  },
  quantizeRow(x, xo, n, out, oo) {
    for (let b = 0; b < n / QK; b++, xo += QK, oo += 36) {
      const d = fr(absMax(x, xo) / 127);
      const id = d !== 0 ? fr(1 / d) : 0;
      writeF16(out, oo, d);
      let sum = 0;
      for (let j = 0; j < QK; j++) {
        const q = roundAway(fr(x[xo + j] * id));
        out[oo + 4 + j] = q & 0xff;
        sum += q;
      }
      writeF16(out, oo + 2, fr(sum * d));
    }
  },
};

/**
 * Activation quantization to Q8_0 / Q8_1 the way llama.cpp's x86 CPU backend does it (AVX/AVX2
 * `quantize_row_q8_0`/`_q8_1`, which every x86-64 build with AVX uses): the scale is still
 * f16(max/127) but the multiplier is 127/max rather than 1/d, and rounding is to nearest-even
 * (`_mm256_round_ps`) rather than `roundf`. Values therefore differ from the `_ref` quantizer in
 * rare ties and last-ulp cases, which is why weights and activations use separate functions.
 */
export function quantizeQ8ActivationX86(x: Float32Array, xo: number, n: number, out: Uint8Array, oo: number, withSum: boolean): void {
  const bs = withSum ? 36 : 34;
  const qo = withSum ? 4 : 2;
  for (let b = 0; b < n / QK; b++, xo += QK, oo += bs) {
    const max = absMax(x, xo);
    const d = fr(max / 127);
    const id = max !== 0 ? fr(127 / max) : 0;
    writeF16(out, oo, d);
    let sum = 0;
    for (let j = 0; j < QK; j++) {
      const v = fr(x[xo + j] * id);
      // Round half to even: a tie is an exact .5 (all f32 in range are exact in a double).
      let q = Math.round(v);
      if (q - v === 0.5 && (q & 1) !== 0) q -= 1;
      out[oo + qo + j] = q & 0xff;
      sum += q;
    }
    if (withSum) writeF16(out, oo + 2, fr(d * sum));
  }
}

/** Smallest and largest of the QK values at xo (the Q4_1/Q5_1 range). */
function blockMinMax(x: Float32Array, xo: number): [number, number] {
  let min = Infinity;
  let max = -Infinity;
  for (let j = 0; j < QK; j++) {
    const v = x[xo + j]!;
    if (v < min) min = v;
    if (v > max) max = v;
  }
  return [min, max];
}
