// What every model file format turns into: GGUF-style metadata keys and GGUF-named tensors in
// GGML layout. GGUF (single or split) and Hugging Face safetensors folders both produce a
// ModelFile, so the model layer has one path and `convert` is "read a ModelFile, write GGUF".

import type { GgmlType } from "./ggml.ts";

/** A metadata value. 64-bit integers are bigint; arrays keep their element values. */
export type MetaValue = string | number | bigint | boolean | MetaValue[];

export interface TensorInfo {
  readonly name: string;
  readonly type: GgmlType;
  /** GGML order: shape[0] is the innermost (row) length, as in GGUF `ne`. */
  readonly shape: readonly number[];
  /** Number of elements (product of shape). */
  readonly elements: number;
  /** Bytes of tensor data in `type`'s layout. */
  readonly byteLength: number;
}

export interface ModelFile {
  readonly format: "gguf" | "safetensors";
  /** Path, URL or name, for messages. */
  readonly name: string;
  /** Metadata under GGUF key names (`general.architecture`, `llama.block_count`, `tokenizer.ggml.tokens`, …). */
  readonly metadata: ReadonlyMap<string, MetaValue>;
  readonly tensors: readonly TensorInfo[];
  /** Raw bytes of one tensor in GGML layout (`byteLength` bytes). Fetched on demand. */
  readTensor(name: string): Promise<Uint8Array>;
  /** Bytes [offset, offset + length) of one tensor's data, where the format stores it as is. */
  readTensorRange?(name: string, offset: number, length: number, into?: Uint8Array): Promise<Uint8Array>;
  close(): Promise<void>;
}
