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
 * position ≥ `from` (temperature 1, no truncation: the raw softmax of its logits).
 */
export async function peerProbabilities(
  modelPath: string,
  vocab: number,
  tokens: number[],
  from: number,
  opts: { kv?: "F16" | "F32"; contextSize?: number } = {},
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
      const input = tokens.map((t, i) =>
        i >= from ? ([t, { generateNext: { probabilities: true, options: { temperature: 1, topK: 0, topP: 1, minP: 0 } } }] as const) : t,
      );
      const out = await seq.controlledEvaluate(input as never);
      const result: Float64Array[] = [];
      for (let i = from; i < tokens.length; i++) {
        const probs = out[i]?.next?.probabilities;
        if (!probs) throw new Error(`node-llama-cpp returned no probabilities at position ${i}`);
        const row = new Float64Array(vocab);
        for (const [tok, p] of probs) row[tok] = p;
        result.push(row);
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
