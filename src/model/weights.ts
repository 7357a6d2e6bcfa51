// Tensor names → backend weights. Matrices stay in their file type; 1-D tensors (norms, biases,
// RoPE frequency factors) are small and become f32 vectors.

import { UserError } from "../errors.ts";
import { GgmlType, ggmlTypeName } from "../format/ggml.ts";
import type { ModelFile, TensorInfo } from "../format/model-file.ts";
import { dequantize } from "../format/quant.ts";
import type { Backend, Buf, Weight } from "../backend/types.ts";
import type { ModelConfig } from "./config.ts";

export interface LayerWeights {
  readonly attnNorm: Buf;
  readonly wq: Weight;
  readonly wk: Weight;
  readonly wv: Weight;
  readonly wo: Weight;
  readonly bq?: Buf;
  readonly bk?: Buf;
  readonly bv?: Buf;
  readonly ffnNorm: Buf;
  readonly wGate: Weight;
  readonly wUp: Weight;
  readonly wDown: Weight;
}

export interface LlamaWeights {
  readonly tokenEmbd: Weight;
  readonly layers: readonly LayerWeights[];
  readonly outputNorm: Buf;
  /** The token embedding itself when the model ties them. */
  readonly output: Weight;
  /** Llama 3.1-style per-frequency RoPE divisors, if the file has `rope_freqs.weight`. */
  readonly ropeFreqs?: Float32Array;
}

export interface LoadProgress {
  readonly loadedBytes: number;
  readonly totalBytes: number;
}

export async function loadWeights(
  file: ModelFile,
  config: ModelConfig,
  backend: Backend,
  opts: { signal?: AbortSignal; onProgress?: (p: LoadProgress) => void } = {},
): Promise<LlamaWeights> {
  const byName = new Map(file.tensors.map((t) => [t.name, t]));
  const totalBytes = file.tensors.reduce((s, t) => s + t.byteLength, 0);
  let loadedBytes = 0;
  let stage = new Uint8Array(0);

  const info = (name: string, shape: number[]): TensorInfo => {
    const t = byName.get(name);
    if (!t) throw new UserError(`${file.name}: tensor ${name} is missing`);
    const same = t.shape.length === shape.length || (shape.length === 2 && shape[1] === 1 && t.shape.length === 1);
    if (!same || shape.some((d, i) => (t.shape[i] ?? 1) !== d)) {
      throw new UserError(`${file.name}: tensor ${name} has shape [${t.shape.join(", ")}], expected [${shape.join(", ")}]`);
    }
    return t;
  };
  const read = async (t: TensorInfo) => {
    opts.signal?.throwIfAborted();
    const bytes = await file.readTensor(t.name);
    loadedBytes += t.byteLength;
    opts.onProgress?.({ loadedBytes, totalBytes });
    return bytes;
  };
  const matrix = async (name: string, cols: number, rows: number): Promise<Weight> => {
    const t = info(name, [cols, rows]);
    if (backend.loadWeightSliced && file.readTensorRange) {
      // Slices straight into the backend: no whole tensor (up to ~1 GB) in JS memory at once. The
      // backend copies each slice before asking for the next, so one staging array serves them
      // all (a fresh array per slice left ~60 MB of garbage at the peak of a 600 MB load).
      opts.signal?.throwIfAborted();
      const w = await backend.loadWeightSliced(t.type, cols, rows, async (offset, length) => {
        opts.signal?.throwIfAborted();
        if (stage.byteLength < length) stage = new Uint8Array(length);
        const bytes = await file.readTensorRange!(name, offset, length, stage.subarray(0, length));
        loadedBytes += length;
        opts.onProgress?.({ loadedBytes, totalBytes });
        return bytes;
      });
      return w;
    }
    return backend.loadWeight(t.type, cols, rows, await read(t));
  };
  const floats = async (name: string, n: number): Promise<Float32Array> => {
    const t = info(name, [n]);
    const bytes = await read(t);
    if (t.type === GgmlType.F32) {
      // A view needs 4-byte alignment; tensor data is aligned in the file but not always in memory.
      return bytes.byteOffset % 4 === 0 ? new Float32Array(bytes.buffer, bytes.byteOffset, n) : new Float32Array(bytes.slice().buffer);
    }
    try {
      return dequantize(t.type, bytes, n);
    } catch {
      throw new UserError(`${file.name}: tensor ${name} has type ${ggmlTypeName(t.type)}, which a 1-D tensor cannot use`);
    }
  };
  const vector = async (name: string, n: number) => backend.loadVector(await floats(name, n));
  const optionalVector = async (name: string, n: number) => (byName.has(name) ? vector(name, n) : undefined);

  const { dim, ffnDim, headDim, nHeads, nKvHeads, vocabSize } = config;
  const qDim = nHeads * headDim;
  const kvDim = nKvHeads * headDim;
  const tokenEmbd = await matrix("token_embd.weight", dim, vocabSize);
  const layers: LayerWeights[] = [];
  for (let l = 0; l < config.nLayers; l++) {
    const p = `blk.${l}.`;
    layers.push({
      attnNorm: await vector(`${p}attn_norm.weight`, dim),
      wq: await matrix(`${p}attn_q.weight`, dim, qDim),
      wk: await matrix(`${p}attn_k.weight`, dim, kvDim),
      wv: await matrix(`${p}attn_v.weight`, dim, kvDim),
      wo: await matrix(`${p}attn_output.weight`, qDim, dim),
      bq: await optionalVector(`${p}attn_q.bias`, qDim),
      bk: await optionalVector(`${p}attn_k.bias`, kvDim),
      bv: await optionalVector(`${p}attn_v.bias`, kvDim),
      ffnNorm: await vector(`${p}ffn_norm.weight`, dim),
      wGate: await matrix(`${p}ffn_gate.weight`, dim, ffnDim),
      wUp: await matrix(`${p}ffn_up.weight`, dim, ffnDim),
      wDown: await matrix(`${p}ffn_down.weight`, ffnDim, dim),
    });
  }
  const outputNorm = await vector("output_norm.weight", dim);
  const output = config.tiedEmbeddings ? tokenEmbd : await matrix("output.weight", dim, vocabSize);
  const ropeFreqs = byName.has("rope_freqs.weight") ? await floats("rope_freqs.weight", config.rope.dims / 2) : undefined;
  return { tokenEmbd, layers, outputNorm, output, ropeFreqs };
}
