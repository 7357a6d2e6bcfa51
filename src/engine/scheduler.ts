// Continuous batching. A fixed number of slots each own one KV sequence; every step builds one
// forward pass from the next token of every decoding slot plus prompt chunks of slots still
// prefilling, so requests join and leave between steps instead of waiting for each other.
// Requests beyond the slots wait in a FIFO queue.
//
// Prefix caching: a finished slot keeps its tokens in the KV cache, and a new request goes to the
// free slot sharing the longest prefix with its prompt, which only evaluates the rest. The cells
// of free slots are "cached", not "used": a new request reclaims them.
//
// Each slot may grow to contextSize / parallel tokens (llama.cpp's split), so the slots together
// never overflow the cache. The n choices of one request share their prompt's cells (copy on
// the KV cache's reference counts) and sample independently.

import { UserError } from "../errors.ts";
import { createSampler, type Sampler, type SamplerParams, type TokenConstraint } from "../sample/sampler.ts";
import { StopStringMatcher } from "../sample/stop.ts";
import { tokenLogprobs, type TokenLogprobs } from "../sample/logprobs.ts";
import type { StreamDecoder } from "../tokenizer/index.ts";
import { AsyncQueue } from "./async-queue.ts";
import type { Model } from "./model.ts";
import { yieldToEventLoop } from "./yield.ts";

export type SchedulerFinishReason = "stop" | "length" | "abort";

export interface CompletionRequest {
  readonly prompt: readonly number[];
  /** Choices sampled from the same prompt (default 1). */
  readonly n?: number;
  /** Most tokens per choice; default: until the slot's context is full. */
  readonly maxTokens?: number;
  /** Sampler settings; choice i draws with seed + i. */
  readonly sampling?: SamplerParams;
  /** A fresh token constraint (grammar) per choice. */
  readonly constraint?: () => TokenConstraint;
  readonly stop?: readonly string[];
  /** More tokens that end generation besides the vocabulary's end-of-generation tokens. */
  readonly stopTokens?: readonly number[];
  /** Keep generating through end-of-generation tokens (benchmarks). */
  readonly ignoreEos?: boolean;
  /** Report log-probabilities with this many alternatives (0: only the chosen token's). */
  readonly logprobs?: number;
  readonly signal?: AbortSignal;
}

export interface EmbeddingRequest {
  readonly tokens: readonly number[];
  readonly signal?: AbortSignal;
}

export type JobEvent =
  | { type: "started"; promptTokens: number; cachedTokens: number }
  | { type: "token"; choice: number; token: number; text: string; logprobs?: TokenLogprobs }
  | { type: "done"; choice: number; finishReason: SchedulerFinishReason; stoppedBy?: string; text: string; generatedTokens: number }
  | { type: "embedding"; vector: Float32Array; tokens: number }
  | { type: "error"; error: Error };

export interface SchedulerOptions {
  /** Sequences decoded together (slots). */
  readonly parallel?: number;
  /** Requests that may wait for a slot; more are refused with SchedulerBusyError. */
  readonly maxQueue?: number;
  /** Timings for metrics; all in seconds. */
  readonly observer?: SchedulerObserver;
}

export interface SchedulerObserver {
  firstToken?(seconds: number): void;
  interToken?(seconds: number): void;
  finished?(reason: SchedulerFinishReason, e2eSeconds: number): void;
  queued?(seconds: number): void;
}

/** Too many requests are waiting. */
export class SchedulerBusyError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "SchedulerBusyError";
  }
}

export interface SchedulerCounters {
  promptTokens: number;
  cachedPromptTokens: number;
  generatedTokens: number;
  requests: number;
  /** Forward passes run, and the sequences they carried (their ratio is the mean batch width). */
  steps: number;
  stepSequences: number;
}

interface Slot {
  readonly index: number;
  readonly seq: number;
  /** Tokens whose keys and values the slot's sequence holds. */
  cached: number[];
  lastUsed: number;
  run: Run | undefined;
}

interface Run {
  readonly job: Job;
  readonly choice: number;
  readonly slot: Slot;
  phase: "prefill" | "await-prefix" | "decode";
  /** Tokens to feed in the next steps. */
  pending: number[];
  sampler?: Sampler;
  decoder?: StreamDecoder;
  stop?: StopStringMatcher;
  history: number[];
  generated: number;
  lastTokenAt: number;
  /** Embeddings: running sum of hidden states. */
  sum?: Float64Array;
  finished: boolean;
}

interface Job {
  readonly kind: "complete" | "embed";
  readonly prompt: readonly number[];
  readonly n: number;
  readonly req: CompletionRequest | EmbeddingRequest;
  readonly events: AsyncQueue<JobEvent>;
  readonly enqueuedAt: number;
  runs: Run[];
  state: "waiting" | "running" | "done";
  aborted: boolean;
  firstTokenSeen: boolean;
  detach?: () => void;
}

const now = () => performance.now();


export class Scheduler {
  readonly model: Model;
  readonly parallel: number;
  readonly maxQueue: number;
  /** Most tokens one slot's sequence may hold. */
  readonly slotContext: number;
  readonly counters: SchedulerCounters = { promptTokens: 0, cachedPromptTokens: 0, generatedTokens: 0, requests: 0, steps: 0, stepSequences: 0 };
  private readonly observer: SchedulerObserver;
  private readonly slots: Slot[];
  private readonly queue: Job[] = [];
  private looping = false;
  private inForward = false;
  private closed = false;

  constructor(model: Model, opts: SchedulerOptions = {}) {
    this.model = model;
    this.parallel = opts.parallel ?? 1;
    if (!Number.isInteger(this.parallel) || this.parallel < 1) throw new UserError(`--parallel must be a positive integer, got ${this.parallel}`);
    if (this.parallel > model.batchSize) throw new UserError(`--parallel ${this.parallel} exceeds the batch size ${model.batchSize}`);
    this.slotContext = Math.floor(model.contextSize / this.parallel);
    if (this.slotContext < 2) throw new UserError(`a context of ${model.contextSize} cells is too small for ${this.parallel} slots`);
    this.maxQueue = opts.maxQueue ?? 64;
    this.observer = opts.observer ?? {};
    this.slots = Array.from({ length: this.parallel }, (_, index) => ({ index, seq: model.allocateSeqId(), cached: [], lastUsed: 0, run: undefined }));
  }

  /** Requests holding slots. */
  get running(): number {
    const jobs = new Set<Job>();
    for (const s of this.slots) if (s.run) jobs.add(s.run.job);
    return jobs.size;
  }

  get waiting(): number {
    return this.queue.length;
  }

  /** KV cells held by running sequences (cached prefixes of free slots excluded). */
  get kvCellsUsed(): number {
    return this.model.kvCellsOf(this.slots.filter((s) => s.run).map((s) => s.seq));
  }

  /** KV cells holding prefixes cached in free slots. */
  get kvCellsCached(): number {
    return this.model.kvCellsOf(this.slots.map((s) => s.seq)) - this.kvCellsUsed;
  }

  get kvCells(): number {
    return this.model.contextSize;
  }

  /** Generate completions; the events end with one "done" per choice (or an "error"). */
  complete(req: CompletionRequest): AsyncIterable<JobEvent> {
    const n = req.n ?? 1;
    if (!Number.isInteger(n) || n < 1) throw new UserError(`n must be a positive integer, got ${n}`);
    if (n > this.parallel) throw new UserError(`n = ${n} exceeds the server's ${this.parallel} parallel slots (--parallel)`);
    this.checkPrompt(req.prompt, req.maxTokens);
    if (req.logprobs !== undefined && (!Number.isInteger(req.logprobs) || req.logprobs < 0 || req.logprobs > 20)) {
      throw new UserError("top_logprobs must be an integer from 0 to 20");
    }
    return this.enqueue("complete", req.prompt, n, req);
  }

  /** Mean-pooled, L2-normalized final hidden state of `tokens`. */
  embed(req: EmbeddingRequest): AsyncIterable<JobEvent> {
    this.checkPrompt(req.tokens, undefined);
    return this.enqueue("embed", req.tokens, 1, req);
  }

  /** Refuse new work and end every request (server shutdown). */
  close(): void {
    this.closed = true;
    for (const job of [...this.queue, ...this.slots.flatMap((s) => (s.run ? [s.run.job] : []))]) this.abort(job);
  }

  private checkPrompt(prompt: readonly number[], maxTokens: number | undefined): void {
    if (this.closed) throw new SchedulerBusyError("the server is shutting down");
    if (prompt.length === 0) throw new UserError("the prompt is empty (no tokens)");
    const vocab = this.model.config.vocabSize;
    for (const t of prompt) {
      if (!Number.isInteger(t) || t < 0 || t >= vocab) throw new UserError(`token id ${t} is out of range (vocabulary of ${vocab})`);
    }
    const ctx = this.slotContext;
    if (prompt.length > ctx) {
      throw new UserError(`the prompt has ${prompt.length} tokens but the context holds ${ctx} per request (${prompt.length - ctx} too many)`);
    }
    if (maxTokens !== undefined && prompt.length + maxTokens > ctx) {
      throw new UserError(
        `the context holds ${ctx} tokens per request, but ${prompt.length + maxTokens} were requested ` +
          `(${prompt.length} in the prompt, ${maxTokens} to generate: ${prompt.length + maxTokens - ctx} too many)`,
      );
    }
  }

  private enqueue(kind: Job["kind"], prompt: readonly number[], n: number, req: CompletionRequest | EmbeddingRequest): AsyncIterable<JobEvent> {
    const startsNow = this.queue.length === 0 && this.slots.filter((s) => !s.run).length >= n;
    if (!startsNow && this.queue.length >= this.maxQueue) {
      throw new SchedulerBusyError(`the server is busy: ${this.queue.length} requests are waiting (limit ${this.maxQueue})`);
    }
    const job: Job = {
      kind,
      prompt: [...prompt],
      n,
      req,
      events: new AsyncQueue<JobEvent>(() => this.abort(job)),
      enqueuedAt: now(),
      runs: [],
      state: "waiting",
      aborted: false,
      firstTokenSeen: false,
    };
    const signal = req.signal;
    if (signal) {
      if (signal.aborted) {
        job.aborted = true;
        this.finishAborted(job);
        return job.events;
      }
      const onAbort = () => this.abort(job);
      signal.addEventListener("abort", onAbort, { once: true });
      job.detach = () => signal.removeEventListener("abort", onAbort);
    }
    this.counters.requests++;
    this.queue.push(job);
    this.kick();
    return job.events;
  }

  private abort(job: Job): void {
    if (job.state === "done" || job.aborted) return;
    job.aborted = true;
    if (job.state === "waiting") {
      const i = this.queue.indexOf(job);
      if (i >= 0) this.queue.splice(i, 1);
      this.finishAborted(job);
      return;
    }
    // A forward pass in flight may be writing this job's cells; reap right after it.
    if (!this.inForward) this.reap();
  }

  private finishAborted(job: Job): void {
    for (let c = 0; c < job.n; c++) job.events.push({ type: "done", choice: c, finishReason: "abort", text: "", generatedTokens: 0 });
    this.endJob(job, "abort");
  }

  private endJob(job: Job, reason: SchedulerFinishReason): void {
    if (job.state === "done") return;
    job.state = "done";
    job.detach?.();
    job.events.close();
    this.observer.finished?.(reason, (now() - job.enqueuedAt) / 1000);
  }

  /** Free the slots of aborted jobs: their cells go back to the cache at once. */
  private reap(): void {
    for (const slot of this.slots) {
      const run = slot.run;
      if (!run || !run.job.aborted) continue;
      this.releaseSlot(slot, false);
      if (!run.finished) {
        run.finished = true;
        run.job.events.push({ type: "done", choice: run.choice, finishReason: "abort", text: "", generatedTokens: run.generated });
      }
      if (run.job.runs.every((r) => r.finished)) this.endJob(run.job, "abort");
    }
  }

  private releaseSlot(slot: Slot, keepCache: boolean): void {
    slot.run = undefined;
    slot.lastUsed = now();
    if (!keepCache) {
      this.model.kvTruncate(slot.seq, 0);
      slot.cached = [];
    }
  }

  private kick(): void {
    if (this.looping) return;
    this.looping = true;
    void this.loop();
  }

  private async loop(): Promise<void> {
    try {
      for (;;) {
        try {
          this.reap();
          this.admit();
          if (!this.slots.some((s) => s.run)) break;
          await this.step();
        } catch (e) {
          // A bug in one step must not wedge the loop or take the process down: end what was running.
          this.failRuns(this.slots.flatMap((s) => (s.run ? [s.run] : [])), e);
        }
        await yieldToEventLoop();
      }
    } finally {
      this.looping = false;
    }
    // Work that arrived while the loop was ending.
    if (this.queue.length > 0) this.kick();
  }

  // --- admission ---

  private admit(): void {
    while (this.queue.length > 0) {
      const job = this.queue[0]!;
      const free = this.slots.filter((s) => !s.run);
      if (free.length < job.n) return;
      this.queue.shift();
      try {
        this.start(job, free);
      } catch (e) {
        this.failRuns(job.runs, e);
        if (job.state !== "done") {
          job.events.push({ type: "error", error: e instanceof Error ? e : new Error(String(e)) });
          this.endJob(job, "abort");
        }
      }
    }
  }

  private start(job: Job, free: Slot[]): void {
    job.state = "running";
    this.observer.queued?.((now() - job.enqueuedAt) / 1000);
    const prompt = job.prompt;
    // The lead slot: the longest cached prefix; among equals, the least recently used.
    let lead = free[0]!;
    let best = -1;
    for (const s of free) {
      const l = job.kind === "embed" ? 0 : commonPrefix(s.cached, prompt);
      if (l > best || (l === best && s.lastUsed < lead.lastUsed)) {
        best = l;
        lead = s;
      }
    }
    if (best < 2) {
      // Nothing worth reusing (at most a shared BOS): take the slot whose cache is worth least,
      // so other prefixes stay cached.
      lead = free.reduce((a, b) => (b.cached.length < a.cached.length || (b.cached.length === a.cached.length && b.lastUsed < a.lastUsed) ? b : a));
      best = job.kind === "embed" ? 0 : commonPrefix(lead.cached, prompt);
    }
    // The logits after the last prompt token are needed, so at least one token is evaluated.
    const reuse = Math.min(best, prompt.length - 1);
    this.truncateSlot(lead, reuse);
    const others = free.filter((s) => s !== lead).sort((a, b) => a.cached.length - b.cached.length || a.lastUsed - b.lastUsed);
    const slots = [lead, ...others.slice(0, job.n - 1)];
    job.runs = slots.map((slot, choice) => {
      if (choice > 0) this.truncateSlot(slot, 0);
      const run: Run = {
        job,
        choice,
        slot,
        phase: choice === 0 ? "prefill" : "await-prefix",
        pending: choice === 0 ? prompt.slice(reuse) : [],
        history: [...prompt],
        generated: 0,
        lastTokenAt: 0,
        finished: false,
      };
      if (job.kind === "embed") run.sum = new Float64Array(this.model.config.dim);
      slot.run = run;
      return run;
    });
    if (job.kind === "complete") {
      const req = job.req as CompletionRequest;
      this.counters.promptTokens += prompt.length;
      this.counters.cachedPromptTokens += reuse;
      for (const run of job.runs) {
        const seed = req.sampling?.seed;
        run.sampler = createSampler({
          ...req.sampling,
          seed: seed === undefined ? undefined : (seed + run.choice) >>> 0,
          constraint: req.constraint?.(),
        });
        run.decoder = this.model.tokenizer.createStreamDecoder();
        run.stop = new StopStringMatcher(req.stop ?? []);
      }
      (job as { cachedTokens?: number }).cachedTokens = reuse;
    }
  }

  private truncateSlot(slot: Slot, length: number): void {
    if (slot.cached.length > length) {
      this.model.kvTruncate(slot.seq, length);
      slot.cached.length = length;
    }
  }

  // --- one forward pass ---

  private async step(): Promise<void> {
    const V = this.model.config.vocabSize;
    const budget = this.model.batchSize;
    const tokens: number[] = [];
    const seqs: number[] = [];
    const outRows: number[] = [];
    const outRuns: Run[] = [];
    const fed: Run[] = [];
    const active = this.slots.filter((s) => s.run && !s.run.finished).map((s) => s.run!);
    // Decode tokens first: one each, so running sequences never stall behind a long prompt.
    for (const run of active) {
      if (run.phase !== "decode" || run.pending.length === 0) continue;
      outRows.push(tokens.length);
      outRuns.push(run);
      this.feed(run, run.pending.splice(0), tokens, seqs);
      fed.push(run);
    }
    // Then prompt chunks, oldest request first.
    const prefilling = active.filter((r) => r.phase === "prefill" && r.job.kind === "complete").sort((a, b) => a.job.enqueuedAt - b.job.enqueuedAt);
    for (const run of prefilling) {
      const room = budget - tokens.length;
      if (room <= 0) break;
      const chunk = run.pending.splice(0, room);
      this.feed(run, chunk, tokens, seqs);
      fed.push(run);
      if (run.pending.length === 0) {
        outRows.push(tokens.length - 1);
        outRuns.push(run);
      }
    }
    if (tokens.length > 0) {
      this.counters.steps++;
      this.counters.stepSequences += new Set(seqs).size;
      let logits: Float32Array;
      this.inForward = true;
      try {
        logits = await this.model.forwardBatch(Int32Array.from(tokens), Int32Array.from(seqs), Int32Array.from(outRows));
      } catch (e) {
        this.failRuns(fed, e);
        return;
      } finally {
        this.inForward = false;
      }
      for (let i = 0; i < outRuns.length; i++) {
        const run = outRuns[i]!;
        if (run.finished || run.job.aborted) continue;
        try {
          this.afterLogits(run, logits.subarray(i * V, (i + 1) * V));
        } catch (e) {
          this.failRuns(run.job.runs, e);
        }
      }
    }
    await this.stepEmbeddings();
  }

  private feed(run: Run, chunk: number[], tokens: number[], seqs: number[]): void {
    for (const t of chunk) {
      tokens.push(t);
      seqs.push(run.slot.seq);
      run.slot.cached.push(t);
    }
  }

  private async stepEmbeddings(): Promise<void> {
    const runs = this.slots.filter((s) => s.run && !s.run.finished && s.run.job.kind === "embed").map((s) => s.run!);
    if (runs.length === 0) return;
    const dim = this.model.config.dim;
    const tokens: number[] = [];
    const seqs: number[] = [];
    const spans: Array<{ run: Run; from: number; to: number }> = [];
    for (const run of runs) {
      const room = this.model.batchSize - tokens.length;
      if (room <= 0) break;
      const from = tokens.length;
      this.feed(run, run.pending.splice(0, room), tokens, seqs);
      spans.push({ run, from, to: tokens.length });
    }
    let hidden: Float32Array;
    this.inForward = true;
    try {
      hidden = await this.model.forwardHidden(Int32Array.from(tokens), Int32Array.from(seqs), Int32Array.from(tokens, (_, i) => i));
    } catch (e) {
      this.failRuns(spans.map((s) => s.run), e);
      return;
    } finally {
      this.inForward = false;
    }
    for (const { run, from, to } of spans) {
      if (run.job.aborted) continue;
      const sum = run.sum!;
      for (let r = from; r < to; r++) for (let d = 0; d < dim; d++) sum[d]! += hidden[r * dim + d]!;
      if (run.pending.length > 0) continue;
      const n = run.job.prompt.length;
      let norm = 0;
      for (let d = 0; d < dim; d++) norm += (sum[d]! / n) ** 2;
      norm = Math.sqrt(norm) || 1;
      const vector = Float32Array.from(sum, (v) => v / n / norm);
      this.counters.promptTokens += n;
      run.finished = true;
      this.releaseSlot(run.slot, false);
      run.job.events.push({ type: "embedding", vector, tokens: n });
      this.endJob(run.job, "stop");
    }
  }

  private failRuns(runs: readonly Run[], e: unknown): void {
    const error = e instanceof Error ? e : new Error(String(e));
    const jobs = new Set(runs.map((r) => r.job));
    for (const job of jobs) {
      if (job.state === "done") continue;
      for (const run of job.runs) {
        run.finished = true;
        if (run.slot.run === run) this.releaseSlot(run.slot, false);
      }
      job.events.push({ type: "error", error });
      this.endJob(job, "abort");
    }
  }

  private afterLogits(run: Run, row: Float32Array): void {
    const job = run.job;
    if (run.phase === "prefill") {
      run.phase = "decode";
      const cached = (job as { cachedTokens?: number }).cachedTokens ?? 0;
      job.events.push({ type: "started", promptTokens: job.prompt.length, cachedTokens: cached });
      // The other choices share the prompt's cells and start from the same logits.
      for (const other of job.runs) {
        if (other === run || other.phase !== "await-prefix") continue;
        this.model.kvCopy(run.slot.seq, other.slot.seq, job.prompt.length);
        other.slot.cached = [...job.prompt];
        other.phase = "decode";
        this.sampleNext(other, row);
      }
    }
    this.sampleNext(run, row);
  }

  private sampleNext(run: Run, row: Float32Array): void {
    const job = run.job;
    const req = job.req as CompletionRequest;
    const tok = this.model.tokenizer;
    const token = run.sampler!.sample(row, run.history);
    const t = now();
    if (!job.firstTokenSeen) {
      job.firstTokenSeen = true;
      this.observer.firstToken?.((t - job.enqueuedAt) / 1000);
    } else if (run.lastTokenAt > 0) {
      this.observer.interToken?.((t - run.lastTokenAt) / 1000);
    }
    run.lastTokenAt = t;
    if (!req.ignoreEos && (tok.isEog(token) || req.stopTokens?.includes(token))) {
      this.finishRun(run, "stop", undefined);
      return;
    }
    run.sampler!.accept(token);
    run.history.push(token);
    run.generated++;
    this.counters.generatedTokens++;
    const logprobs = req.logprobs !== undefined ? tokenLogprobs(row, token, req.logprobs) : undefined;
    const { text, stopped } = run.stop!.push(run.decoder!.write(token));
    job.events.push({ type: "token", choice: run.choice, token, text, logprobs });
    if (stopped !== undefined) this.finishRun(run, "stop", stopped);
    else if (req.maxTokens !== undefined && run.generated >= req.maxTokens) this.finishRun(run, "length", undefined);
    else if (run.slot.cached.length >= this.slotContext) this.finishRun(run, "length", undefined);
    else run.pending = [token];
  }

  private finishRun(run: Run, reason: SchedulerFinishReason, stoppedBy: string | undefined): void {
    run.finished = true;
    // Text held back (a partial character, a possible stop string) is released at the end.
    const text = stoppedBy === undefined ? run.stop!.push(run.decoder!.end()).text + run.stop!.flush() : "";
    run.job.events.push({ type: "done", choice: run.choice, finishReason: reason, stoppedBy, text, generatedTokens: run.generated });
    this.releaseSlot(run.slot, true);
    if (run.job.runs.every((r) => r.finished)) this.endJob(run.job, reason);
  }
}

function commonPrefix(a: readonly number[], b: readonly number[]): number {
  const n = Math.min(a.length, b.length);
  let i = 0;
  while (i < n && a[i] === b[i]) i++;
  return i;
}
