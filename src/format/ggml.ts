// The GGML tensor types: ids as stored in GGUF, and the block geometry every reader needs to size
// tensor data before touching it. Dequantization lives in quant.ts; this file is only the table.

export const GgmlType = {
  F32: 0, F16: 1, Q4_0: 2, Q4_1: 3, Q5_0: 6, Q5_1: 7, Q8_0: 8, Q8_1: 9,
  Q2_K: 10, Q3_K: 11, Q4_K: 12, Q5_K: 13, Q6_K: 14, Q8_K: 15,
  IQ2_XXS: 16, IQ2_XS: 17, IQ3_XXS: 18, IQ1_S: 19, IQ4_NL: 20, IQ3_S: 21, IQ2_S: 22, IQ4_XS: 23,
  I8: 24, I16: 25, I32: 26, I64: 27, F64: 28, IQ1_M: 29, BF16: 30, TQ1_0: 34, TQ2_0: 35, MXFP4: 39,
} as const;
export type GgmlType = (typeof GgmlType)[keyof typeof GgmlType];

export interface GgmlTypeInfo {
  readonly id: GgmlType;
  readonly name: string;
  /** Elements per block (1 for plain scalar types). */
  readonly blockSize: number;
  /** Bytes per block. */
  readonly typeSize: number;
}

const table: GgmlTypeInfo[] = [
  [GgmlType.F32, "F32", 1, 4], [GgmlType.F16, "F16", 1, 2], [GgmlType.BF16, "BF16", 1, 2],
  [GgmlType.F64, "F64", 1, 8], [GgmlType.I8, "I8", 1, 1], [GgmlType.I16, "I16", 1, 2],
  [GgmlType.I32, "I32", 1, 4], [GgmlType.I64, "I64", 1, 8],
  [GgmlType.Q4_0, "Q4_0", 32, 18], [GgmlType.Q4_1, "Q4_1", 32, 20], [GgmlType.Q5_0, "Q5_0", 32, 22],
  [GgmlType.Q5_1, "Q5_1", 32, 24], [GgmlType.Q8_0, "Q8_0", 32, 34], [GgmlType.Q8_1, "Q8_1", 32, 36],
  [GgmlType.Q2_K, "Q2_K", 256, 84], [GgmlType.Q3_K, "Q3_K", 256, 110], [GgmlType.Q4_K, "Q4_K", 256, 144],
  [GgmlType.Q5_K, "Q5_K", 256, 176], [GgmlType.Q6_K, "Q6_K", 256, 210], [GgmlType.Q8_K, "Q8_K", 256, 292],
  [GgmlType.IQ2_XXS, "IQ2_XXS", 256, 66], [GgmlType.IQ2_XS, "IQ2_XS", 256, 74],
  [GgmlType.IQ3_XXS, "IQ3_XXS", 256, 98], [GgmlType.IQ1_S, "IQ1_S", 256, 50],
  [GgmlType.IQ4_NL, "IQ4_NL", 32, 18], [GgmlType.IQ3_S, "IQ3_S", 256, 110], [GgmlType.IQ2_S, "IQ2_S", 256, 82],
  [GgmlType.IQ4_XS, "IQ4_XS", 256, 136], [GgmlType.IQ1_M, "IQ1_M", 256, 56],
  [GgmlType.TQ1_0, "TQ1_0", 256, 54], [GgmlType.TQ2_0, "TQ2_0", 256, 66], [GgmlType.MXFP4, "MXFP4", 32, 17],
].map(([id, name, blockSize, typeSize]) => ({ id, name, blockSize, typeSize }) as GgmlTypeInfo);

const byId = new Map<number, GgmlTypeInfo>(table.map((t) => [t.id, t]));
const byName = new Map<string, GgmlTypeInfo>(table.map((t) => [t.name, t]));

/** Type info for a GGUF type id, or undefined for ids no known GGML version assigns. */
export function ggmlTypeInfo(id: number): GgmlTypeInfo | undefined {
  return byId.get(id);
}

export function ggmlTypeByName(name: string): GgmlTypeInfo | undefined {
  return byName.get(name.toUpperCase());
}

export function ggmlTypeName(id: number): string {
  return byId.get(id)?.name ?? `unknown(${id})`;
}

/**
 * Bytes of one row of `n` elements, or undefined when `n` is not a whole number of blocks.
 * Callers must reject the tensor in that case rather than round.
 */
export function rowBytes(type: GgmlTypeInfo, n: number): number | undefined {
  if (n % type.blockSize !== 0) return undefined;
  return (n / type.blockSize) * type.typeSize;
}
