// Pieces of OpenAI's response shapes: log-probabilities (chat and legacy completions), usage,
// ids, and embeddings as base64.

import type { TokenLogprobs } from "../sample/logprobs.ts";
import type { Tokenizer } from "../tokenizer/index.ts";

export interface Usage {
  prompt_tokens: number;
  completion_tokens: number;
  total_tokens: number;
  prompt_tokens_details: { cached_tokens: number };
}

export function usage(promptTokens: number, completionTokens: number, cachedTokens: number): Usage {
  return {
    prompt_tokens: promptTokens,
    completion_tokens: completionTokens,
    total_tokens: promptTokens + completionTokens,
    prompt_tokens_details: { cached_tokens: cachedTokens },
  };
}

export function newId(prefix: string): string {
  return prefix + crypto.randomUUID().replaceAll("-", "");
}

function piece(tok: Tokenizer, id: number): { token: string; bytes: number[] } {
  return { token: tok.tokenToPiece(id), bytes: Array.from(tok.pieceBytes(id)) };
}

/** One entry of a chat choice's `logprobs.content`. */
export function chatLogprob(tok: Tokenizer, lp: TokenLogprobs) {
  return {
    ...piece(tok, lp.token),
    logprob: lp.logprob,
    top_logprobs: lp.top.map((t) => ({ ...piece(tok, t.token), logprob: t.logprob })),
  };
}

/** The legacy completions `logprobs` object for a run of tokens starting at text offset `offset`. */
export function completionLogprobs(tok: Tokenizer, lps: readonly TokenLogprobs[], offset: number) {
  const tokens: string[] = [];
  const tokenLogprobs: number[] = [];
  const top: Array<Record<string, number>> = [];
  const textOffset: number[] = [];
  let at = offset;
  for (const lp of lps) {
    const t = tok.tokenToPiece(lp.token);
    tokens.push(t);
    tokenLogprobs.push(lp.logprob);
    const alts: Record<string, number> = {};
    for (const a of lp.top) {
      const p = tok.tokenToPiece(a.token);
      if (!(p in alts)) alts[p] = a.logprob;
    }
    top.push(alts);
    textOffset.push(at);
    at += t.length;
  }
  return { tokens, token_logprobs: tokenLogprobs, top_logprobs: top, text_offset: textOffset };
}

export function float32Base64(v: Float32Array): string {
  const bytes = new Uint8Array(v.length * 4);
  const view = new DataView(bytes.buffer);
  for (let i = 0; i < v.length; i++) view.setFloat32(i * 4, v[i]!, true);
  let s = "";
  for (let i = 0; i < bytes.length; i += 0x8000) s += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  return btoa(s);
}
