// A session is one sequence in the model's KV cache: the tokens evaluated so far and the logits
// after the last of them. Prompts that share a prefix with what the session already holds only
// evaluate the new part.

import { UserError } from "../errors.ts";
import type { Model } from "./model.ts";

export class Session {
  readonly model: Model;
  readonly seqId: number;
  private history: number[] = [];
  private lastLogits: Float32Array | undefined;
  private disposed = false;

  constructor(model: Model, seqId: number) {
    this.model = model;
    this.seqId = seqId;
  }

  /** Tokens whose keys and values the cache holds for this session. */
  get tokens(): readonly number[] {
    return this.history;
  }

  /** Logits after the last evaluated token. */
  get logits(): Float32Array | undefined {
    return this.lastLogits;
  }

  /** Append tokens and return the logits that follow the last of them. */
  async evaluate(tokens: ArrayLike<number>, opts: { signal?: AbortSignal } = {}): Promise<Float32Array> {
    this.checkAlive();
    if (tokens.length === 0) {
      if (!this.lastLogits) throw new UserError("nothing to evaluate: the session is empty");
      return this.lastLogits;
    }
    return this.evaluateFrom(tokens, tokens.length - 1, opts);
  }

  /**
   * Append tokens and return the logits after each of `tokens[from..]`, row after row
   * ([(n - from) × vocab]); perplexity and logprob scoring use this.
   */
  async evaluateFrom(tokens: ArrayLike<number>, from: number, opts: { signal?: AbortSignal } = {}): Promise<Float32Array> {
    this.checkAlive();
    const n = tokens.length;
    const free = this.model.contextSize - this.model.kvUsed();
    if (n > free) {
      throw new UserError(`${n} tokens do not fit in the context: ${this.model.contextSize} cells, ${free} free (${n - free} too many)`);
    }
    const vocab = this.model.config.vocabSize;
    const batchSize = this.model.batchSize;
    // One batch (every decode step): the backend's fresh logits array is the result, no second copy.
    let out: Float32Array = n <= batchSize ? new Float32Array(0) : new Float32Array(Math.max(0, n - from) * vocab);
    for (let i = 0; i < n; i += batchSize) {
      opts.signal?.throwIfAborted();
      const chunk = Int32Array.from(Array.prototype.slice.call(tokens, i, i + batchSize) as number[]);
      const first = Math.max(from - i, 0);
      const rows = first < chunk.length ? Int32Array.from({ length: chunk.length - first }, (_, r) => first + r) : new Int32Array(0);
      const logits = await this.model.forwardBatch(chunk, new Int32Array(chunk.length).fill(this.seqId), rows);
      if (n <= batchSize) out = logits;
      else if (rows.length > 0) out.set(logits, (i + first - from) * vocab);
      for (const t of chunk) this.history.push(t);
      this.lastLogits = rows.length > 0 ? logits.subarray(logits.length - vocab) : undefined;
    }
    return out;
  }

  /**
   * Make the session hold exactly `tokens` and return the logits after them, reusing the longest
   * common prefix with what it already holds.
   */
  async prompt(tokens: ArrayLike<number>, opts: { signal?: AbortSignal } = {}): Promise<{ logits: Float32Array; reused: number }> {
    this.checkAlive();
    if (tokens.length === 0) throw new UserError("the prompt is empty");
    let common = 0;
    const h = this.history;
    while (common < h.length && common < tokens.length && h[common] === tokens[common]) common++;
    // The logits after the last prompt token are needed, so at least one token is re-evaluated.
    if (common === tokens.length) common--;
    this.truncate(common);
    const rest = Array.prototype.slice.call(tokens, common) as number[];
    return { logits: await this.evaluate(rest, opts), reused: common };
  }

  /** Keep only the first `length` tokens. */
  truncate(length: number): void {
    this.checkAlive();
    if (length >= this.history.length) return;
    this.model.kvTruncate(this.seqId, length);
    this.history.length = Math.max(0, length);
    this.lastLogits = undefined;
  }

  reset(): void {
    this.truncate(0);
  }

  dispose(): void {
    if (this.disposed) return;
    this.truncate(0);
    this.disposed = true;
    this.model.releaseSession(this);
  }

  private checkAlive(): void {
    if (this.disposed) throw new Error("the session was disposed");
  }
}
