// GGML tensor element types: dequantize and quantize, the scalar reference every backend is
// checked against. Dequantization is bit-exact with llama.cpp (ggml-quants.c); quantization
// reproduces llama.cpp's reference quantizers (what llama-quantize does without an importance
// matrix). Block layouts live in the per-family files; this module is the typed entry point.

import { UserError } from "../errors.ts";
import { bf16ToF32, F16_TO_F32, f32ToBf16, f32ToF16 } from "./f16.ts";
import { GgmlType, ggmlTypeInfo, ggmlTypeName } from "./ggml.ts";
import type { BlockCodec } from "./quant-common.ts";
import { iq4_nl, iq4_xs } from "./quant-iq.ts";
import { q2_K, q3_K, q4_K, q5_K, q6_K, q8_K } from "./quant-k.ts";
import { q4_0, q4_1, q5_0, q5_1, q8_0, q8_1 } from "./quant-legacy.ts";

const f32View = new Float32Array(1);
const f32Bytes = new Uint8Array(f32View.buffer);

const f32: BlockCodec = {
  dequantizeRow(src, so, n, out, oo) {
    if ((src.byteOffset + so) % 4 === 0) {
      out.set(new Float32Array(src.buffer, src.byteOffset + so, n), oo);
      return;
    }
    for (let i = 0; i < n; i++, so += 4) {
      f32Bytes[0] = src[so];
      f32Bytes[1] = src[so + 1];
      f32Bytes[2] = src[so + 2];
      f32Bytes[3] = src[so + 3];
      out[oo + i] = f32View[0];
    }
  },
  quantizeRow(x, xo, n, out, oo) {
    out.set(new Uint8Array(x.buffer, x.byteOffset + 4 * xo, 4 * n), oo);
  },
};

const f16: BlockCodec = {
  dequantizeRow(src, so, n, out, oo) {
    for (let i = 0; i < n; i++, so += 2) out[oo + i] = F16_TO_F32[src[so] | (src[so + 1] << 8)];
  },
  quantizeRow(x, xo, n, out, oo) {
    for (let i = 0; i < n; i++, oo += 2) {
      const h = f32ToF16(x[xo + i]);
      out[oo] = h & 0xff;
      out[oo + 1] = h >>> 8;
    }
  },
};

const bf16: BlockCodec = {
  dequantizeRow(src, so, n, out, oo) {
    for (let i = 0; i < n; i++, so += 2) out[oo + i] = bf16ToF32(src[so] | (src[so + 1] << 8));
  },
  quantizeRow(x, xo, n, out, oo) {
    for (let i = 0; i < n; i++, oo += 2) {
      const h = f32ToBf16(x[xo + i]);
      out[oo] = h & 0xff;
      out[oo + 1] = h >>> 8;
    }
  },
};

const codecs = new Map<number, BlockCodec>([
  [GgmlType.F32, f32], [GgmlType.F16, f16], [GgmlType.BF16, bf16],
  [GgmlType.Q4_0, q4_0], [GgmlType.Q4_1, q4_1], [GgmlType.Q5_0, q5_0], [GgmlType.Q5_1, q5_1],
  [GgmlType.Q8_0, q8_0], [GgmlType.Q8_1, q8_1],
  [GgmlType.Q2_K, q2_K], [GgmlType.Q3_K, q3_K], [GgmlType.Q4_K, q4_K], [GgmlType.Q5_K, q5_K],
  [GgmlType.Q6_K, q6_K], [GgmlType.Q8_K, q8_K],
  [GgmlType.IQ4_NL, iq4_nl], [GgmlType.IQ4_XS, iq4_xs],
]);

function codecFor(type: GgmlType, what: "dequantize" | "quantize"): BlockCodec {
  const codec = codecs.get(type);
  if (!codec || (what === "quantize" && !codec.quantizeRow)) {
    throw new UserError(`cannot ${what} tensors of GGML type ${ggmlTypeName(type)}: not supported`);
  }
  return codec;
}

/** Bytes used by `n` values of `type`; throws when `n` is not a whole number of blocks. */
export function quantizedSize(type: GgmlType, n: number): number {
  const info = ggmlTypeInfo(type);
  if (!info) throw new UserError(`unknown GGML type ${ggmlTypeName(type)}`);
  if (!Number.isSafeInteger(n) || n < 0 || n % info.blockSize !== 0) {
    throw new UserError(`${n} values of type ${info.name} are not a whole number of ${info.blockSize}-value blocks`);
  }
  return (n / info.blockSize) * info.typeSize;
}

export function canDequantize(type: GgmlType): boolean {
  return codecs.has(type);
}

export function canQuantize(type: GgmlType): boolean {
  return codecs.get(type)?.quantizeRow !== undefined;
}

/**
 * Decode `n` values starting at `bytes[byteOffset]` into `out[outOffset ..]`. Allocates nothing,
 * so the reference backend can call it per row.
 */
export function dequantizeRow(type: GgmlType, bytes: Uint8Array, byteOffset: number, n: number, out: Float32Array, outOffset: number): void {
  const codec = codecFor(type, "dequantize");
  const size = quantizedSize(type, n);
  if (byteOffset < 0 || byteOffset + size > bytes.length) {
    throw new RangeError(`dequantize ${ggmlTypeName(type)}: ${size} bytes at ${byteOffset} exceed the ${bytes.length}-byte buffer`);
  }
  if (outOffset < 0 || outOffset + n > out.length) throw new RangeError(`dequantize ${ggmlTypeName(type)}: output too small`);
  codec.dequantizeRow(bytes, byteOffset, n, out, outOffset);
}

/** Decode the first `n` values of `bytes` (into `out` when given). */
export function dequantize(type: GgmlType, bytes: Uint8Array, n: number, out?: Float32Array): Float32Array {
  const dst = out ?? new Float32Array(n);
  dequantizeRow(type, bytes, 0, n, dst, 0);
  return dst;
}

/**
 * Encode `n` values of `src` from `srcOffset` into `out[outOffset ..]` (`quantizedSize(type, n)`
 * bytes). Every supported type's blocks are independent, so rows may be quantized in any split.
 */
export function quantizeRow(type: GgmlType, src: Float32Array, srcOffset: number, n: number, out: Uint8Array, outOffset: number): void {
  const codec = codecFor(type, "quantize");
  const size = quantizedSize(type, n);
  if (srcOffset < 0 || srcOffset + n > src.length) throw new RangeError(`quantize ${ggmlTypeName(type)}: input too short`);
  if (outOffset < 0 || outOffset + size > out.length) throw new RangeError(`quantize ${ggmlTypeName(type)}: output too small`);
  codec.quantizeRow!(src, srcOffset, n, out, outOffset);
}

export interface QuantizeOptions {
  /** First value of `src` to encode (default 0). */
  offset?: number;
  /** Number of values (default: the rest of `src`). */
  n?: number;
}

/** Encode values of `src` as a new byte array of `type` blocks. */
export function quantize(type: GgmlType, src: Float32Array, opts: QuantizeOptions = {}): Uint8Array {
  const offset = opts.offset ?? 0;
  const n = opts.n ?? src.length - offset;
  const out = new Uint8Array(quantizedSize(type, n));
  quantizeRow(type, src, offset, n, out, 0);
  return out;
}
