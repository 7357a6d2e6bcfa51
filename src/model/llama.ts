// The Llama forward pass (Touvron et al. 2023; Meta's model.py), for a batch of tokens from one or
// more sequences:
//
//   h = embed(tokens)
//   for each layer:  h = h + Attention(RMSNorm(h))      (RoPE on q and k, causal, GQA, KV cache)
//                    h = h + FFN(RMSNorm(h))            (SwiGLU: W2(silu(W1 x) * W3 x))
//   logits = Output(RMSNorm(h))
//
// The model knows neither the file format nor the backend: weights arrive as backend handles,
// the KV cache says where each token goes. Scratch buffers are sized once for the largest batch.

import type { AttentionSpan, Backend, Buf, RopeParams, Weight } from "../backend/types.ts";
import type { ModelConfig } from "./config.ts";
import type { LlamaWeights } from "./weights.ts";

/** Called with each named intermediate when set (a debug dump); never set on the hot path. */
export type DebugHook = (name: string, layer: number, buf: Buf, nTokens: number, width: number) => void;

/**
 * What the forward pass needs from a KV cache: per-layer K and V buffers, and where a batch's
 * tokens go and what each attends to. The cache (src/kv/) implements it; the model never manages
 * cells itself.
 */
export interface KvStore {
  readonly k: readonly Buf[];
  readonly v: readonly Buf[];
  place(seqIds: Int32Array): { readonly cells: Int32Array; readonly positions: Int32Array; readonly span: AttentionSpan };
}

export interface ForwardBatch {
  readonly tokens: Int32Array;
  readonly seqIds: Int32Array;
  /** Batch rows whose logits are wanted, in the order the result returns them. */
  readonly outputRows: Int32Array;
  /** Return the normalized final hidden states of `outputRows` ([rows × dim]) instead of logits (embeddings). */
  readonly hidden?: boolean;
}

export class LlamaModel {
  readonly config: ModelConfig;
  readonly maxBatch: number;
  debug?: DebugHook;
  private readonly backend: Backend;
  private readonly w: LlamaWeights;
  private readonly rope: RopeParams;
  // Activations for `capacity` tokens, grown on demand up to maxBatch: decode-only use keeps them
  // small (a 256-token batch of TinyLlama's would take 25 MB).
  private s: Record<"x" | "h" | "q" | "k" | "v" | "attn" | "o" | "gate" | "up" | "last", Buf>;
  private capacity = 0;
  // Logits of a 128k vocabulary are large; sized for the most output rows asked for so far.
  private logits: Buf;

  constructor(config: ModelConfig, weights: LlamaWeights, backend: Backend, maxBatch: number) {
    this.config = config;
    this.backend = backend;
    this.w = weights;
    this.maxBatch = maxBatch;
    this.rope = ropeParams(config, weights.ropeFreqs);
    this.s = this.activations(Math.min(maxBatch, 8));
    this.logits = backend.alloc(config.vocabSize);
  }

  private activations(tokens: number): LlamaModel["s"] {
    const { dim, nHeads, nKvHeads, headDim, ffnDim } = this.config;
    const a = (width: number) => this.backend.alloc(tokens * width);
    this.capacity = tokens;
    return {
      x: a(dim), h: a(dim), q: a(nHeads * headDim), k: a(nKvHeads * headDim), v: a(nKvHeads * headDim),
      attn: a(nHeads * headDim), o: a(dim), gate: a(ffnDim), up: a(ffnDim), last: a(dim),
    };
  }

  /** Run the batch, appending its tokens to their sequences in `kv`; returns logits for `outputRows`. */
  async forward(batch: ForwardBatch, kv: KvStore): Promise<Float32Array> {
    const n = batch.tokens.length;
    if (n === 0 || n > this.maxBatch) throw new RangeError(`batch of ${n} tokens (max ${this.maxBatch})`);
    const { dim, nHeads, nKvHeads, headDim, ffnDim, rmsEps, vocabSize } = this.config;
    if (n > this.capacity) {
      for (const buf of Object.values(this.s)) this.backend.free(buf);
      this.s = this.activations(Math.min(this.maxBatch, Math.max(n, 2 * this.capacity)));
    }
    const b = this.backend, s = this.s, w = this.w, dbg = this.debug;
    const kvDim = nKvHeads * headDim;
    const placement = kv.place(batch.seqIds);

    b.getRows(w.tokenEmbd, batch.tokens, s.x);
    dbg?.("inp_embd", -1, s.x, n, dim);
    const nOut = batch.outputRows.length;
    const last = w.layers.length - 1;
    for (let l = 0; l <= last; l++) {
      const L = w.layers[l]!;
      // Self-attention block.
      b.rmsNorm(s.x, L.attnNorm, n, dim, rmsEps, s.h);
      dbg?.("attn_norm", l, s.h, n, dim);
      matmuls(b, [L.wq, L.wk, L.wv], s.h, n, [s.q, s.k, s.v]);
      if (L.bq) b.addBias(s.q, L.bq, n, nHeads * headDim);
      if (L.bk) b.addBias(s.k, L.bk, n, kvDim);
      if (L.bv) b.addBias(s.v, L.bv, n, kvDim);
      b.rope(s.q, n, nHeads, headDim, placement.positions, this.rope);
      b.rope(s.k, n, nKvHeads, headDim, placement.positions, this.rope);
      dbg?.("Qcur", l, s.q, n, nHeads * headDim);
      dbg?.("Kcur", l, s.k, n, kvDim);
      dbg?.("Vcur", l, s.v, n, kvDim);
      b.setRows(kv.k[l]!, kvDim, placement.cells, s.k);
      b.setRows(kv.v[l]!, kvDim, placement.cells, s.v);
      b.attention(s.q, kv.k[l]!, kv.v[l]!, placement.span, { nTokens: n, nHeads, nKvHeads, headDim, scale: 1 / Math.sqrt(headDim) }, s.attn);
      dbg?.("kqv_out", l, s.attn, n, nHeads * headDim);
      b.matmul(L.wo, s.attn, n, s.o);
      dbg?.("attn_out", l, s.o, n, dim);
      // After the last layer's attention only the output rows matter (the KV cache is written),
      // so, like llama.cpp, the last feed-forward runs on those rows alone. Besides the saved work
      // this keeps the batch size, and so the matmul kernel and its rounding, equal to llama.cpp's.
      let rows = n;
      if (l === last && nOut < n) {
        if (nOut === 0) return new Float32Array(0);
        b.gatherRows(s.x, dim, batch.outputRows, s.h);
        b.gatherRows(s.o, dim, batch.outputRows, s.x);
        b.add(s.h, s.x, nOut * dim, s.x);
        rows = nOut;
      } else {
        b.add(s.x, s.o, n * dim, s.x);
      }
      // Feed-forward block (SwiGLU).
      b.rmsNorm(s.x, L.ffnNorm, rows, dim, rmsEps, s.h);
      dbg?.("ffn_norm", l, s.h, rows, dim);
      matmuls(b, [L.wGate, L.wUp], s.h, rows, [s.gate, s.up]);
      b.siluMul(s.gate, s.up, rows * ffnDim, s.gate);
      b.matmul(L.wDown, s.gate, rows, s.o);
      dbg?.("ffn_out", l, s.o, rows, dim);
      b.add(s.x, s.o, rows * dim, s.x);
      dbg?.("l_out", l, s.x, rows, dim);
    }
    if (nOut === 0) return new Float32Array(0);
    // x now holds the output rows in order (or, when every row is an output, all of them).
    if (nOut < n) b.rmsNorm(s.x, w.outputNorm, nOut, dim, rmsEps, s.last);
    else {
      b.gatherRows(s.x, dim, batch.outputRows, s.h);
      b.rmsNorm(s.h, w.outputNorm, nOut, dim, rmsEps, s.last);
    }
    dbg?.("result_norm", -1, s.last, nOut, dim);
    if (batch.hidden) {
      await b.flush();
      return b.read(s.last, 0, nOut * dim);
    }
    if (this.logits.length < nOut * vocabSize) {
      b.free(this.logits);
      this.logits = b.alloc(nOut * vocabSize);
    }
    b.matmul(w.output, s.last, nOut, this.logits);
    await b.flush();
    return b.read(this.logits, 0, nOut * vocabSize);
  }

  dispose(): void {
    for (const buf of [...Object.values(this.s), this.logits]) this.backend.free(buf);
  }
}

export function ropeParams(c: ModelConfig, freqFactors?: Float32Array): RopeParams {
  return {
    dims: c.rope.dims,
    freqBase: c.rope.freqBase,
    freqScale: c.rope.freqScale,
    neox: c.rope.neox,
    freqFactors,
    yarn: c.rope.scaling === "yarn"
      ? { extFactor: 1, attnFactor: c.rope.yarnAttnFactor, betaFast: 32, betaSlow: 1, origContext: c.rope.origContext }
      : undefined,
  };
}

/** Several weights over one input: one backend op (one activation quantization) where the backend has it. */
function matmuls(b: Backend, ws: readonly Weight[], x: Buf, n: number, outs: readonly Buf[]): void {
  if (b.matmulMany) b.matmulMany(ws, x, n, outs);
  else for (let i = 0; i < ws.length; i++) b.matmul(ws[i]!, x, n, outs[i]!);
}
