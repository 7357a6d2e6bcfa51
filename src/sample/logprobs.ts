// Log-probabilities as OpenAI reports them: log-softmax of the model's raw logits (before
// penalties, filters and temperature), for the chosen token and the n most likely ones.

export const MAX_TOP_LOGPROBS = 20;

export interface TopLogprob {
  token: number;
  logprob: number;
}

export interface TokenLogprobs {
  token: number;
  logprob: number;
  /** The most likely tokens, best first (ties to the lower id). */
  top: TopLogprob[];
}

/** log Σ exp(logits), computed stably in float64. */
export function logSumExp(logits: ArrayLike<number>): number {
  let max = -Infinity;
  for (let i = 0; i < logits.length; i++) if (logits[i]! > max) max = logits[i]!;
  if (max === -Infinity) return -Infinity;
  let sum = 0;
  for (let i = 0; i < logits.length; i++) sum += Math.exp(logits[i]! - max);
  return max + Math.log(sum);
}

export function tokenLogprobs(logits: ArrayLike<number>, token: number, topN = 0): TokenLogprobs {
  if (!Number.isInteger(topN) || topN < 0 || topN > MAX_TOP_LOGPROBS) {
    throw new RangeError(`top_logprobs must be an integer from 0 to ${MAX_TOP_LOGPROBS}`);
  }
  const lse = logSumExp(logits);
  const top: TopLogprob[] = [];
  if (topN > 0) {
    // insertion into a short sorted list: topN ≤ 20, one comparison for most tokens
    const ids: number[] = [];
    for (let i = 0; i < logits.length; i++) {
      const l = logits[i]!;
      if (ids.length === topN && !(l > logits[ids[topN - 1]!]!)) continue;
      let j = ids.length === topN ? topN - 1 : ids.length;
      if (ids.length < topN) ids.push(i);
      while (j > 0 && logits[ids[j - 1]!]! < l) {
        ids[j] = ids[j - 1]!;
        j--;
      }
      ids[j] = i;
    }
    for (const id of ids) top.push({ token: id, logprob: logits[id]! - lse });
  }
  return { token, logprob: logits[token]! - lse, top };
}
