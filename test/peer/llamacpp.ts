// llama.cpp through node-llama-cpp 3.21.1 (CPU only, prebuilt binaries, never compiled here):
// the peer whose tokens and probabilities our engine must reproduce.

import { getLlama, LlamaLogLevel, type Llama } from "node-llama-cpp";

let llama: Promise<Llama> | undefined;

export function peer(): Promise<Llama> {
  llama ??= getLlama({ gpu: false, build: "never", logLevel: LlamaLogLevel.error, progressLogs: false });
  return llama;
}

/**
 * Teacher-forced evaluation: feed `tokens` and read llama.cpp's next-token distribution after each
 * position ≥ `from` (temperature 1, no truncation: the raw softmax of its logits). By default the
 * tokens up to `from` go in one batch and the rest one at a time, as in generation; `batch: "all"`
 * evaluates everything as one batch (perplexity).
 */
export async function peerProbabilities(
  modelPath: string,
  vocab: number,
  tokens: number[],
  from: number,
  opts: { kv?: "F16" | "F32"; contextSize?: number; batch?: "all" | "generation" } = {},
): Promise<Float64Array[]> {
  const l = await peer();
  const model = await l.loadModel({ modelPath });
  try {
    const ctx = await model.createContext({
      contextSize: opts.contextSize ?? 256,
      threads: 1,
      flashAttention: false,
      experimentalKvCacheKeyType: opts.kv ?? "F16",
      experimentalKvCacheValueType: opts.kv ?? "F16",
    });
    try {
      const seq = ctx.getSequence();
      const want = { generateNext: { probabilities: true, options: { temperature: 1, topK: 0, topP: 1, minP: 0 } } } as const;
      const row = (probs: Map<number, number> | undefined, i: number) => {
        if (!probs) throw new Error(`node-llama-cpp returned no probabilities at position ${i}`);
        const r = new Float64Array(vocab);
        for (const [tok, p] of probs) r[tok] = p;
        return r;
      };
      const result: Float64Array[] = [];
      if (opts.batch === "all") {
        const out = await seq.controlledEvaluate(tokens.map((t, i) => (i >= from ? [t, want] : t)) as never);
        for (let i = from; i < tokens.length; i++) result.push(row(out[i]?.next?.probabilities, i));
      } else {
        // As llama.cpp generates: the prompt (up to `from`) in one batch, then one token per step.
        // Some of its kernels depend on the batch size, so this is the like-for-like comparison.
        const out = await seq.controlledEvaluate(tokens.slice(0, from + 1).map((t, i) => (i === from ? [t, want] : t)) as never);
        result.push(row(out[from]?.next?.probabilities, from));
        for (let i = from + 1; i < tokens.length; i++) {
          const step = await seq.controlledEvaluate([[tokens[i]!, want]] as never);
          result.push(row(step[0]?.next?.probabilities, i));
        }
      }
      return result;
    } finally {
      await ctx.dispose();
    }
  } finally {
    await model.dispose();
  }
}

/** Greedy generation in llama.cpp (the tokens it would produce from `prompt`). */
export async function peerGreedy(modelPath: string, prompt: number[], n: number): Promise<number[]> {
  const l = await peer();
  const model = await l.loadModel({ modelPath });
  try {
    const ctx = await model.createContext({ contextSize: 256, threads: 1, flashAttention: false });
    try {
      const out: number[] = [];
      for await (const t of ctx.getSequence().evaluate(prompt as never[], { temperature: 0, yieldEogToken: true })) {
        out.push(t);
        if (out.length >= n) break;
      }
      return out;
    } finally {
      await ctx.dispose();
    }
  } finally {
    await model.dispose();
  }
}

export function softmax(logits: Float32Array): Float64Array {
  let max = -Infinity;
  for (const v of logits) if (v > max) max = v;
  const out = new Float64Array(logits.length);
  let sum = 0;
  for (let i = 0; i < logits.length; i++) sum += out[i] = Math.exp(logits[i]! - max);
  for (let i = 0; i < out.length; i++) out[i]! /= sum;
  return out;
}

export function argmax(v: ArrayLike<number>): number {
  let best = 0;
  for (let i = 1; i < v.length; i++) if (v[i]! > v[best]!) best = i;
  return best;
}
