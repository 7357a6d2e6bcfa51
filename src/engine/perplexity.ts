// Perplexity by llama.cpp's method (llama-perplexity): the text is cut into non-overlapping chunks
// of nCtx tokens, each chunk starts with BOS in place of its first token when the vocabulary adds
// one, and only the second half of each chunk is scored, so every scored token has at least
// nCtx/2 tokens of context.

import { UserError } from "../errors.ts";
import type { Model } from "./model.ts";

export interface PerplexityResult {
  readonly ppl: number;
  /** Standard error of the estimate, as llama.cpp prints it after ±. */
  readonly error: number;
  readonly chunks: number;
  readonly scoredTokens: number;
  /** Running perplexity after each chunk. */
  readonly perChunk: number[];
}

export async function perplexity(
  model: Model,
  text: string,
  opts: { nCtx?: number; signal?: AbortSignal; onChunk?: (done: number, total: number, ppl: number) => void } = {},
): Promise<PerplexityResult> {
  const nCtx = opts.nCtx ?? model.contextSize;
  if (nCtx > model.contextSize) throw new UserError(`chunk size ${nCtx} is larger than the context (${model.contextSize})`);
  if (nCtx < 4) throw new UserError(`chunk size ${nCtx} is too small`);
  // As llama-perplexity: BOS (when the vocabulary adds one) leads the token list and every chunk.
  const tokens = model.tokenize(text);
  if (tokens.length < 2 * nCtx) {
    throw new UserError(`perplexity needs at least ${2 * nCtx} tokens for a context of ${nCtx}; the text has ${tokens.length}`);
  }
  const bos = model.tokenizer.addBos ? model.tokenizer.bos : undefined;
  const chunks = Math.floor(tokens.length / nCtx);
  const first = nCtx >> 1;
  const vocab = model.config.vocabSize;
  const session = model.createSession();
  let nll = 0, nll2 = 0, count = 0;
  const perChunk: number[] = [];
  try {
    for (let c = 0; c < chunks; c++) {
      const chunk = tokens.slice(c * nCtx, (c + 1) * nCtx);
      if (bos !== undefined) chunk[0] = bos;
      session.reset();
      const logits = await session.evaluateFrom(chunk, first, { signal: opts.signal });
      // Row r holds the logits after chunk[first + r]; it predicts chunk[first + r + 1].
      for (let j = first; j < nCtx - 1; j++) {
        const row = logits.subarray((j - first) * vocab, (j - first + 1) * vocab);
        const lp = logSoftmaxAt(row, tokens[c * nCtx + j + 1]!);
        nll -= lp;
        nll2 += lp * lp;
        count++;
      }
      const ppl = Math.exp(nll / count);
      perChunk.push(ppl);
      opts.onChunk?.(c + 1, chunks, ppl);
    }
  } finally {
    session.dispose();
  }
  const mean = nll / count;
  const mean2 = nll2 / count;
  const ppl = Math.exp(mean);
  const error = count > 1 ? ppl * Math.sqrt(Math.max(0, mean2 - mean * mean) / (count - 1)) : 0;
  return { ppl, error, chunks, scoredTokens: count, perChunk };
}

/** log p(token) under softmax(logits), computed stably in double precision. */
export function logSoftmaxAt(logits: Float32Array, token: number): number {
  let max = -Infinity;
  for (let i = 0; i < logits.length; i++) if (logits[i]! > max) max = logits[i]!;
  let sum = 0;
  for (let i = 0; i < logits.length; i++) sum += Math.exp(logits[i]! - max);
  return logits[token]! - max - Math.log(sum);
}
