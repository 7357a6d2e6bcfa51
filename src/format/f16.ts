// IEEE half (F16) and bfloat16 (BF16) bit conversions, written out on bits so that every platform
// (with or without Float16Array) rounds exactly like llama.cpp: round-to-nearest-even for
// f32 → f16, and ggml's own rounding (`ggml_compute_fp32_to_bf16`) for f32 → bf16.

const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);

/** f16 bits → f32 value for all 65536 patterns; dequantizers read scales through this. */
export const F16_TO_F32: Float32Array = (() => {
  const table = new Float32Array(65536);
  const bits = new Uint32Array(table.buffer);
  for (let h = 0; h < 65536; h++) {
    const sign = (h & 0x8000) << 16;
    const exp = (h >> 10) & 0x1f;
    const mant = h & 0x3ff;
    if (exp === 0) {
      // Subnormal halves are mant · 2^-24, exact in f32 and in a double.
      table[h] = (h & 0x8000 ? -mant : mant) * 2 ** -24;
    } else if (exp === 31) {
      // Writing bits (not a JS NaN) keeps the payload in the table.
      bits[h] = sign | 0x7f800000 | (mant << 13);
    } else {
      bits[h] = sign | ((exp + 112) << 23) | (mant << 13);
    }
  }
  return table;
})();

export function f16ToF32(h: number): number {
  return F16_TO_F32[h & 0xffff];
}

/** f32 → f16 bits, round-to-nearest-even, overflow to ±inf, NaN kept quiet with its top payload bits. */
export function f32ToF16(value: number): number {
  f32[0] = value;
  const x = u32[0];
  const sign = (x >>> 16) & 0x8000;
  const exp = (x >>> 23) & 0xff;
  const mant = x & 0x7fffff;
  if (exp === 0xff) return mant !== 0 ? sign | 0x7e00 | (mant >>> 13) : sign | 0x7c00;
  const e = exp - 112; // half exponent field if the result is normal
  if (e >= 31) return sign | 0x7c00;
  if (e <= 0) {
    // Subnormal half (or zero): the result counts units of 2^-24.
    const shift = 126 - exp;
    if (shift > 24) return sign; // below 2^-25: rounds to zero
    const m = mant | 0x800000;
    let q = m >>> shift;
    const rem = m & ((1 << shift) - 1);
    const half = 1 << (shift - 1);
    if (rem > half || (rem === half && (q & 1) !== 0)) q++;
    return sign | q; // a carry into bit 10 is exactly the smallest normal
  }
  let h = (e << 10) | (mant >>> 13);
  const rem = mant & 0x1fff;
  if (rem > 0x1000 || (rem === 0x1000 && (h & 1) !== 0)) h++; // a carry may reach infinity, as it should
  return sign | h;
}

export function bf16ToF32(b: number): number {
  u32[0] = (b & 0xffff) << 16;
  return f32[0];
}

/** f32 → bf16 bits as ggml does it: round-to-nearest-even on the top half, NaN forced quiet. */
export function f32ToBf16(value: number): number {
  f32[0] = value;
  const x = u32[0];
  if ((x & 0x7fffffff) > 0x7f800000) return ((x >>> 16) | 64) & 0xffff;
  return ((x + 0x7fff + ((x >>> 16) & 1)) >>> 16) & 0xffff;
}

/** The f32 whose bits are `bits` (Q8_K stores its scale as a plain f32). */
export function f32FromBits(bits: number): number {
  u32[0] = bits;
  return f32[0];
}

export function f32Bits(value: number): number {
  f32[0] = value;
  return u32[0];
}
