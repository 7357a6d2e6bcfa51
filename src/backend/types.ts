// The narrow kernel interface between the model and the machines that run it. The reference
// backend (plain TS, the oracle), the WASM SIMD backend and later WebGPU implement exactly this;
// a parity test runs every op of every backend against the reference.
//
// Conventions: activations are row-major [nTokens × width] f32. Weights use GGML's convention:
// a 2-D weight of shape [cols, rows] (GGML `ne` order) maps `cols` inputs to `rows` outputs.
// Ops never allocate per call in a fast backend; buffers are created once by the model.

import type { GgmlType } from "../format/ggml.ts";

/** An activation or cache buffer owned by a backend. */
export interface Buf {
  readonly length: number;
  readonly dtype: "f32" | "f16";
}

/** A weight matrix or vector, kept in its file type (quantized weights stay quantized). */
export interface Weight {
  readonly type: GgmlType;
  readonly cols: number;
  readonly rows: number;
}

export interface RopeParams {
  /** Number of leading dimensions of each head that rotate (`rope.dimension_count`). */
  readonly dims: number;
  readonly freqBase: number;
  /** 1 / linear scaling factor (llama.cpp `freq_scale`). */
  readonly freqScale: number;
  /** NEOX layout rotates (i, i + dims/2); the normal layout rotates adjacent pairs (2i, 2i+1). */
  readonly neox: boolean;
  /** Llama 3.1 per-frequency divisors (`rope_freqs.weight`), dims/2 values, or undefined. */
  readonly freqFactors?: Float32Array;
  /** YaRN parameters; when absent, plain (optionally linear-scaled) RoPE. */
  readonly yarn?: { extFactor: number; attnFactor: number; betaFast: number; betaSlow: number; origContext: number };
}

/**
 * Which KV-cache cells each token of a batch attends to: token t sees cells
 * `cells[start[t] .. start[t] + count[t])`, in position order. Tokens of one sequence share a
 * region of `cells`; causality is expressed by `count`.
 */
export interface AttentionSpan {
  readonly cells: Int32Array;
  readonly start: Int32Array;
  readonly count: Int32Array;
}

export interface AttentionShape {
  readonly nTokens: number;
  readonly nHeads: number;
  readonly nKvHeads: number;
  readonly headDim: number;
  /** Softmax scale, normally 1/sqrt(headDim). */
  readonly scale: number;
}

export interface Backend {
  readonly name: string;

  alloc(length: number, dtype?: "f32" | "f16"): Buf;
  free(buf: Buf): void;
  /** Copy f32 values into `buf` starting at element `offset`. */
  write(buf: Buf, data: Float32Array, offset?: number): void;
  /** Copy `length` elements starting at `offset` out as f32. */
  read(buf: Buf, offset?: number, length?: number): Float32Array;

  /** Take ownership of a weight's raw GGML bytes ([cols, rows]; a 1-D tensor is rows = 1). */
  loadWeight(type: GgmlType, cols: number, rows: number, bytes: Uint8Array): Weight;
  /**
   * Like `loadWeight`, pulling the bytes in slices of whole rows (`read(byteOffset, length)`), so
   * that a multi-GB model never has a whole tensor in JS memory. Each slice is consumed before
   * the next `read` is called, so the reader may reuse one array. Optional.
   */
  loadWeightSliced?(type: GgmlType, cols: number, rows: number, read: (offset: number, length: number) => Promise<Uint8Array>): Promise<Weight>;
  /** A 1-D f32 vector (norm weights, biases) as a buffer usable by elementwise ops. */
  loadVector(data: Float32Array): Buf;
  freeWeight(w: Weight): void;

  /** out[t, :] = dequantized row ids[t] of `w`. */
  getRows(w: Weight, ids: Int32Array, out: Buf): void;
  /**
   * out[t, r] = Σ_c W[r, c] · x[t, c] for t < nTokens. Quantized weights use llama.cpp's scheme:
   * activations are quantized to the weight type's dot-product type (Q8_0, Q8_1, Q8_K, F16, BF16).
   */
  matmul(w: Weight, x: Buf, nTokens: number, out: Buf): void;
  /**
   * outs[i] = ws[i] · x for weights sharing the input (Q/K/V, gate/up): the same values as one
   * matmul per weight, with one quantization of x and one dispatch. Optional.
   */
  matmulMany?(ws: readonly Weight[], x: Buf, nTokens: number, outs: readonly Buf[]): void;
  /** out[t, :] = x[t, :] / rms(x[t, :]) * weight. */
  rmsNorm(x: Buf, weight: Buf, nTokens: number, width: number, eps: number, out: Buf): void;
  /** In place on x = [nTokens × nHeads × headDim]: rotate each head by its token's position. */
  rope(x: Buf, nTokens: number, nHeads: number, headDim: number, positions: Int32Array, p: RopeParams): void;
  /** cache[cells[t], :] = src[t, :] for rows of `width` (converting to the cache dtype). */
  setRows(cache: Buf, width: number, cells: Int32Array, src: Buf): void;
  /**
   * Causal multi-head attention with GQA over cached K/V ([cell × nKvHeads × headDim]):
   * out[t, h, :] = Σ_j softmax_j(scale · q[t,h]·k[cell_j, h/g]) · v[cell_j, h/g].
   */
  attention(q: Buf, kCache: Buf, vCache: Buf, span: AttentionSpan, shape: AttentionShape, out: Buf): void;
  /** out = silu(gate) * up, elementwise over n values. */
  siluMul(gate: Buf, up: Buf, n: number, out: Buf): void;
  /** out = a + b elementwise over n values (out may alias a). */
  add(a: Buf, b: Buf, n: number, out: Buf): void;
  /** x[t, :] += bias for t < nTokens (Qwen2 QKV biases). */
  addBias(x: Buf, bias: Buf, nTokens: number, width: number): void;
  /** Copy rows: dst[t, :] = src[rows[t], :] (gather of the last hidden states before the output head). */
  gatherRows(src: Buf, width: number, rows: Int32Array, dst: Buf): void;

  /** Wait for queued work (a no-op for synchronous backends). */
  flush(): Promise<void>;
  dispose(): void;
}
