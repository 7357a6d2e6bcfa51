// Shared pieces of the GGML block codecs. llama.cpp computes in C `float`; a JS double rounded
// with Math.fround after every single +, -, *, / gives exactly the f32 result (binary64 has more
// than 2·24+2 bits, so the double rounding is innocuous), which is how the codecs stay bit-exact.

import { F16_TO_F32, f32ToF16 } from "./f16.ts";

export const fr = Math.fround;

/** One GGML block codec working on a row of `n` values (a whole number of blocks). */
export interface BlockCodec {
  dequantizeRow(src: Uint8Array, srcOffset: number, n: number, out: Float32Array, outOffset: number): void;
  quantizeRow?(src: Float32Array, srcOffset: number, n: number, out: Uint8Array, outOffset: number): void;
}

/** ggml's `nearest_int`: adds 1.5·2^23 in f32, i.e. round half to even (valid for |v| < 2^22). */
export function nearestInt(v: number): number {
  return fr(v + 12582912) - 12582912;
}

/** C `roundf`: halves go away from zero. */
export function roundAway(v: number): number {
  return v < 0 ? -Math.floor(-v + 0.5) : Math.floor(v + 0.5);
}

export function readF16(b: Uint8Array, o: number): number {
  return F16_TO_F32[b[o] | (b[o + 1] << 8)];
}

export function writeF16(b: Uint8Array, o: number, v: number): void {
  const h = f32ToF16(v);
  b[o] = h & 0xff;
  b[o + 1] = h >>> 8;
}

/** Round-trip an f32 through f16, as `GGML_FP16_TO_FP32(GGML_FP32_TO_FP16(x))`. */
export function viaF16(v: number): number {
  return F16_TO_F32[f32ToF16(v)];
}

export function int8(v: number): number {
  return (v << 24) >> 24;
}

export function readU16(b: Uint8Array, o: number): number {
  return b[o] | (b[o + 1] << 8);
}

export function readI16(b: Uint8Array, o: number): number {
  return ((b[o] | (b[o + 1] << 8)) << 16) >> 16;
}

export function readU32(b: Uint8Array, o: number): number {
  return (b[o] | (b[o + 1] << 8) | (b[o + 2] << 16) | (b[o + 3] << 24)) >>> 0;
}

export function writeU32(b: Uint8Array, o: number, v: number): void {
  b[o] = v & 0xff;
  b[o + 1] = (v >>> 8) & 0xff;
  b[o + 2] = (v >>> 16) & 0xff;
  b[o + 3] = (v >>> 24) & 0xff;
}

/** The value of largest magnitude in x[xo, xo + n), the first on ties, as ggml picks it. */
export function signedAbsMax(x: Float32Array, xo: number, n: number): number {
  let max = 0;
  let amax = 0;
  for (let i = 0; i < n; i++) {
    const ax = Math.abs(x[xo + i]);
    if (ax > amax) {
      amax = ax;
      max = x[xo + i];
    }
  }
  return max;
}
