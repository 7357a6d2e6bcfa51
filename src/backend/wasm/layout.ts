// How each GGML weight type is held in wasm memory: the kernel that multiplies it, the activation
// format it wants (llama.cpp's vec_dot_type), the repacked sizes, and the repack/row exports.

import { GgmlType } from "../../format/ggml.ts";
import { ACT, KERNEL } from "./abi.ts";

export interface Layout {
  readonly kernel: number;
  readonly act: number;
  /** Elements per block of the GGUF type (1 for float types). */
  readonly block: number;
  /** GGUF bytes per block. */
  readonly blockBytes: number;
  /** Quant-area bytes per (group of 4 rows, block); 0 for float types (kept row-major). */
  readonly qPerGroupBlock: number;
  /** Scale/meta-area bytes per (group, block). */
  readonly sPerGroupBlock: number;
  /** Kernel exports: repack (GGUF → layout) and one-row dequantization. Absent for float types. */
  readonly repack?: string;
  readonly row?: string;
  /** rowFloat kind for float types: 0 f32, 1 f16, 2 bf16. */
  readonly floatKind?: number;
}

const layouts = new Map<number, Layout>([
  [GgmlType.Q8_0, { kernel: KERNEL.Q8_0, act: ACT.Q8_0, block: 32, blockBytes: 34, qPerGroupBlock: 128, sPerGroupBlock: 8, repack: "repackQ8_0", row: "rowQ8_0" }],
  [GgmlType.Q4_0, { kernel: KERNEL.Q4_0, act: ACT.Q8_0, block: 32, blockBytes: 18, qPerGroupBlock: 64, sPerGroupBlock: 8, repack: "repackQ4_0", row: "rowQ4_0" }],
  [GgmlType.Q4_K, { kernel: KERNEL.Q4_K, act: ACT.Q8_K, block: 256, blockBytes: 144, qPerGroupBlock: 512, sPerGroupBlock: 80, repack: "repackQ4_K", row: "rowQ4_K" }],
  [GgmlType.Q4_1, { kernel: KERNEL.Q4_1, act: ACT.Q8_0, block: 32, blockBytes: 20, qPerGroupBlock: 64, sPerGroupBlock: 32, repack: "repackQ4_1", row: "rowQ4_1" }],
  [GgmlType.Q5_0, { kernel: KERNEL.Q5_0, act: ACT.Q8_0, block: 32, blockBytes: 22, qPerGroupBlock: 80, sPerGroupBlock: 16, repack: "repackQ5_0", row: "rowQ5_0" }],
  [GgmlType.Q5_1, { kernel: KERNEL.Q5_1, act: ACT.Q8_0, block: 32, blockBytes: 24, qPerGroupBlock: 80, sPerGroupBlock: 32, repack: "repackQ5_1", row: "rowQ5_1" }],
  [GgmlType.IQ4_NL, { kernel: KERNEL.IQ4_NL, act: ACT.Q8_0, block: 32, blockBytes: 18, qPerGroupBlock: 64, sPerGroupBlock: 16, repack: "repackIQ4_NL", row: "rowIQ4_NL" }],
  [GgmlType.IQ4_XS, { kernel: KERNEL.IQ4_XS, act: ACT.Q8_K, block: 256, blockBytes: 136, qPerGroupBlock: 512, sPerGroupBlock: 48, repack: "repackIQ4_XS", row: "rowIQ4_XS" }],
  [GgmlType.Q2_K, { kernel: KERNEL.Q2_K, act: ACT.Q8_K, block: 256, blockBytes: 84, qPerGroupBlock: 256, sPerGroupBlock: 96, repack: "repackQ2_K", row: "rowQ2_K" }],
  [GgmlType.Q3_K, { kernel: KERNEL.Q3_K, act: ACT.Q8_K, block: 256, blockBytes: 110, qPerGroupBlock: 384, sPerGroupBlock: 80, repack: "repackQ3_K", row: "rowQ3_K" }],
  [GgmlType.Q5_K, { kernel: KERNEL.Q5_K, act: ACT.Q8_K, block: 256, blockBytes: 176, qPerGroupBlock: 640, sPerGroupBlock: 128, repack: "repackQ5_K", row: "rowQ5_K" }],
  [GgmlType.Q6_K, { kernel: KERNEL.Q6_K, act: ACT.Q8_K, block: 256, blockBytes: 210, qPerGroupBlock: 768, sPerGroupBlock: 144, repack: "repackQ6_K", row: "rowQ6_K" }],
  [GgmlType.F32, { kernel: KERNEL.F32, act: ACT.F32, block: 1, blockBytes: 4, qPerGroupBlock: 0, sPerGroupBlock: 0, floatKind: 0 }],
  [GgmlType.F16, { kernel: KERNEL.F16, act: ACT.F16, block: 1, blockBytes: 2, qPerGroupBlock: 0, sPerGroupBlock: 0, floatKind: 1 }],
  [GgmlType.BF16, { kernel: KERNEL.BF16, act: ACT.BF16, block: 1, blockBytes: 2, qPerGroupBlock: 0, sPerGroupBlock: 0, floatKind: 2 }],
]);

export function layoutOf(type: number): Layout | undefined {
  return layouts.get(type);
}

/** Bytes of one token's quantized activations (mirrors kernels/quantize.ts q8AreaBytes). */
export function actStride(act: number, n: number): number {
  let b: number;
  if (act === ACT.Q8_0) b = 3 * n + 12 * (n / 32);
  else if (act === ACT.Q8_K) b = 3 * n + 4 * (n / 256) + 2 * (n / 16);
  else b = 4 * n;
  return Math.ceil(b / 64) * 64;
}
