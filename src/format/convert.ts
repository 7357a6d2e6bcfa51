// Hugging Face folder → GGUF: hf.ts already presents the checkpoint as the ModelFile llama.cpp's
// convert_hf_to_gguf.py would produce (names, permuted Q/K, metadata, tokenizer); this module
// picks each tensor's output type the way the converter's --outtype does and produces writer input
// that converts tensor by tensor.

import { UserError } from "../errors.ts";
import { GgmlType, ggmlTypeName } from "./ggml.ts";
import { GgufValueType, type GgufType, type GgufWriteInput, type GgufWriteTensor } from "./gguf.ts";
import type { MetaValue, ModelFile, TensorInfo } from "./model-file.ts";
import { metadataTypesFor } from "./gguf-key-types.ts";
import { dequantize, quantize } from "./quant.ts";

export const OUT_TYPES = {
  f32: { type: GgmlType.F32, fileType: 0 },
  f16: { type: GgmlType.F16, fileType: 1 },
  bf16: { type: GgmlType.BF16, fileType: 32 },
  q8_0: { type: GgmlType.Q8_0, fileType: 7 },
} as const;

export type OutType = keyof typeof OUT_TYPES;

export function parseOutType(name: string): OutType {
  const lower = name.toLowerCase() as OutType;
  if (lower in OUT_TYPES) return lower;
  throw new UserError(`unknown --outtype '${name}' (valid: ${Object.keys(OUT_TYPES).join(", ")})`);
}

/** The converter's choice: 1-D tensors and norms stay F32; matrices take the out type (Q8_0 needs rows of 32). */
export function convertedType(t: Pick<TensorInfo, "name" | "shape">, out: OutType): GgmlType {
  const dims = t.shape.filter((d, i) => i === 0 || d !== 1).length;
  if (dims <= 1 || t.name.endsWith("_norm.weight")) return GgmlType.F32;
  const want = OUT_TYPES[out].type;
  if (want === GgmlType.Q8_0 && t.shape[0]! % 32 !== 0) return GgmlType.F16;
  return want;
}

export interface ConvertOptions {
  readonly onTensor?: (done: { index: number; count: number; name: string; bytes: number; totalBytes: number }) => void;
}

/** Writer input for `file` with its matrices stored as `out`. */
export function convertModel(file: ModelFile, out: OutType, opts: ConvertOptions = {}): GgufWriteInput {
  const metadata = new Map<string, MetaValue>(file.metadata);
  const metadataTypes = metadataTypesFor(file.metadata, (file as { metadataTypes?: ReadonlyMap<string, GgufType> }).metadataTypes);
  metadata.set("general.file_type", OUT_TYPES[out].fileType);
  metadataTypes.set("general.file_type", { type: GgufValueType.U32 });
  if (!metadata.has("general.quantization_version")) {
    metadata.set("general.quantization_version", 2);
    metadataTypes.set("general.quantization_version", { type: GgufValueType.U32 });
  }
  const totalBytes = file.tensors.reduce((a, t) => a + t.byteLength, 0);
  let bytes = 0;
  const tensors: GgufWriteTensor[] = file.tensors.map((t, index) => {
    const to = convertedType(t, out);
    return {
      name: t.name,
      type: to,
      shape: t.shape,
      data: async () => {
        const raw = await file.readTensor(t.name);
        let data = raw;
        if (t.type !== to) {
          if (t.type !== GgmlType.F32 && t.type !== GgmlType.F16 && t.type !== GgmlType.BF16) {
            throw new UserError(`${file.name}: tensor ${t.name} has type ${ggmlTypeName(t.type)}; convert reads F32, F16 and BF16 checkpoints`);
          }
          const values = t.type === GgmlType.F32 && raw.byteOffset % 4 === 0 ? new Float32Array(raw.buffer, raw.byteOffset, t.elements) : dequantize(t.type, raw, t.elements);
          data = quantize(to, values);
        }
        bytes += t.byteLength;
        opts.onTensor?.({ index, count: file.tensors.length, name: t.name, bytes, totalBytes });
        return data;
      },
    };
  });
  return { metadata, metadataTypes, tensors };
}
