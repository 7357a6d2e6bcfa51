// The generate loop: prompt → tokens → (prefix-reusing) evaluation → sample → stream text, until
// an end-of-generation token, a stop string, the token limit, a full context, or an abort.

import { UserError } from "../errors.ts";
import { createSampler, type SamplerParams } from "../sample/sampler.ts";
import { StopStringMatcher } from "../sample/stop.ts";
import { createGrammarConstraint } from "../sample/grammar/constraint.ts";
import { jsonSchemaToGbnf } from "../sample/grammar/json-schema.ts";
import { MAX_TOP_LOGPROBS, tokenLogprobs, type TokenLogprobs } from "../sample/logprobs.ts";
import type { Session } from "./session.ts";
import { yieldToEventLoop } from "./yield.ts";

export interface GenerateOptions extends SamplerParams {
  /** Most tokens to generate (default 256). */
  readonly maxTokens?: number;
  /** Stop strings: generation ends before them and they are not emitted. */
  readonly stop?: readonly string[];
  /** Stops within one token; the session stays usable. */
  readonly signal?: AbortSignal;
  /** Add BOS/EOS as the vocabulary says (default true). */
  readonly addSpecial?: boolean;
  /** Recognise special-token text such as `<|eot_id|>` in the prompt (default false). */
  readonly parseSpecial?: boolean;
  /** When the prompt does not fit, keep its end instead of failing (default false). */
  readonly truncatePrompt?: boolean;
  /** Constrain the output to a GBNF grammar (llama.cpp's grammar syntax). */
  readonly grammar?: string;
  /** Constrain the output to JSON valid under this JSON Schema (`{}` for any JSON object). */
  readonly jsonSchema?: unknown;
  /** Tokens that end generation like end-of-generation does (a chat template's end of turn). */
  readonly stopTokens?: readonly number[];
  /**
   * Log-probabilities of each generated token, with this many (0–20) most likely alternatives;
   * absent: none are computed.
   */
  readonly logprobs?: number;
}

export interface GenerationChunk {
  readonly token: number;
  /**
   * Text completed by this token (empty while a UTF-8 character or a possible stop string is
   * pending). Held-back text still pending at the end comes in a last chunk with token -1.
   */
  readonly text: string;
  /** With the `logprobs` option: the token's log-probability under the raw logits, and the top ones. */
  readonly logprobs?: TokenLogprobs;
}

export type FinishReason = "stop" | "length" | "abort";

export interface GenerationStats {
  promptTokens: number[];
  /** Prompt tokens found already in the KV cache. */
  reusedTokens: number;
  generatedTokens: number[];
  promptMs: number;
  generateMs: number;
  finishReason: FinishReason | undefined;
}

export interface Generation extends AsyncIterable<GenerationChunk> {
  /** Filled in as generation runs; complete once the iteration ends. */
  readonly stats: GenerationStats;
  /** Run to the end and return the whole text. */
  text(): Promise<string>;
}

export function generate(session: Session, prompt: string | ArrayLike<number>, opts: GenerateOptions = {}): Generation {
  const stats: GenerationStats = { promptTokens: [], reusedTokens: 0, generatedTokens: [], promptMs: 0, generateMs: 0, finishReason: undefined };
  const iterate = () => run(session, prompt, opts, stats);
  return {
    stats,
    [Symbol.asyncIterator]: () => iterate()[Symbol.asyncIterator](),
    async text() {
      let s = "";
      for await (const c of iterate()) s += c.text;
      return s;
    },
  };
}

async function* run(session: Session, prompt: string | ArrayLike<number>, opts: GenerateOptions, stats: GenerationStats): AsyncGenerator<GenerationChunk> {
  const model = session.model;
  const tok = model.tokenizer;
  let tokens = typeof prompt === "string"
    ? Array.from(tok.encode(prompt, { addSpecial: opts.addSpecial ?? true, parseSpecial: opts.parseSpecial ?? false }))
    : Array.from(prompt);
  if (tokens.length === 0) throw new UserError("the prompt is empty (no tokens)");
  const ctx = model.contextSize;
  if (tokens.length > ctx) {
    if (!opts.truncatePrompt) {
      throw new UserError(`the prompt has ${tokens.length} tokens but the context holds ${ctx} (${tokens.length - ctx} too many)`);
    }
    tokens = tokens.slice(tokens.length - ctx);
  }
  stats.promptTokens = tokens;
  const topLogprobs = opts.logprobs;
  if (topLogprobs !== undefined && (!Number.isInteger(topLogprobs) || topLogprobs < 0 || topLogprobs > MAX_TOP_LOGPROBS)) {
    throw new UserError(`top_logprobs must be an integer from 0 to ${MAX_TOP_LOGPROBS}`);
  }
  const stopTokens = new Set(opts.stopTokens ?? []);
  const maxTokens = opts.maxTokens ?? 256;
  const signal = opts.signal;
  if (signal?.aborted) {
    stats.finishReason = "abort";
    return;
  }

  let t0 = performance.now();
  const first = await session.prompt(tokens, { signal });
  let logits = first.logits;
  stats.reusedTokens = first.reused;
  stats.promptMs = performance.now() - t0;

  const gbnf = opts.grammar ?? (opts.jsonSchema !== undefined ? jsonSchemaToGbnf(opts.jsonSchema) : undefined);
  const constraint = opts.constraint ?? (gbnf !== undefined ? createGrammarConstraint(gbnf, tok) : undefined);
  const sampler = createSampler({ ...opts, constraint });
  const decoder = tok.createStreamDecoder();
  const stop = new StopStringMatcher(opts.stop ?? []);
  const history = [...tokens];
  t0 = performance.now();
  let finish: FinishReason;
  for (let i = 0; ; i++) {
    if (signal?.aborted) { finish = "abort"; break; }
    if (i >= maxTokens) { finish = "length"; break; }
    const token = sampler.sample(logits, history);
    if (tok.isEog(token) || stopTokens.has(token)) { finish = "stop"; break; }
    sampler.accept(token);
    history.push(token);
    stats.generatedTokens.push(token);
    const logprobs = topLogprobs === undefined ? undefined : tokenLogprobs(logits, token, topLogprobs);
    const { text, stopped } = stop.push(decoder.write(token));
    if (text || !stopped || logprobs) yield logprobs ? { token, text, logprobs } : { token, text };
    if (stopped) { finish = "stop"; break; }
    if (model.kvUsed() >= ctx) { finish = "length"; break; }
    await yieldToEventLoop(); // so that an abort (Ctrl-C, a closed socket) is seen between tokens
    logits = await session.evaluate([token]);
  }
  stats.generateMs = performance.now() - t0;
  stats.finishReason = finish;
  // Text held back (a partial UTF-8 character, a possible stop string) is released at the end.
  const rest = finish === "stop" && stop.stopped !== undefined ? "" : stop.push(decoder.end()).text + stop.flush();
  if (rest) yield { token: -1, text: rest };
}
