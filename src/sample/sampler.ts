// The sampler chain, with llama.cpp's semantics and default order:
//   logit bias → penalties (repeat / frequency / presence over the last N tokens) → top-k →
//   typical-p → top-p → min-p → temperature → seeded draw.
// Filters see un-tempered logits (temperature comes last, as in llama.cpp, unlike HF
// transformers). Temperature ≤ 0 is greedy. With a token constraint (grammar), the chain first
// runs unconstrained and only when the pick is not allowed does it rerun on masked logits —
// llama.cpp's shortcut, which saves checking every token of the vocabulary most of the time.

import { UserError } from "../errors.ts";
import { Candidates } from "./candidates.ts";
import { Mt19937, randomSeed } from "./rng.ts";

export interface TokenConstraint {
  /** Whether `token` may come next. */
  allows(token: number): boolean;
  /** Sets the logits of every token that may not come next to -Infinity. */
  mask(logits: Float32Array): void;
  /** Advances past a generated token. */
  accept(token: number): void;
}

export interface SamplerParams {
  /** Default 0.8; 0 or less is greedy. */
  temperature?: number;
  /** Default 40; 0 or less keeps all. */
  topK?: number;
  /** Default 0.95; 1 disables. */
  topP?: number;
  /** Default 0.05; 0 disables. */
  minP?: number;
  /** Locally typical sampling, default 1 (off). */
  typicalP?: number;
  /** Default 1 (off). Divides positive logits and multiplies negative ones of seen tokens. */
  repeatPenalty?: number;
  /** Default 0. Subtracted once per occurrence in the window. */
  frequencyPenalty?: number;
  /** Default 0. Subtracted once if the token occurs in the window. */
  presencePenalty?: number;
  /** Penalty window in tokens, default 64; -1 is the whole history, 0 disables the penalties. */
  repeatLastN?: number;
  /** Added to the logits of the given token ids (OpenAI logit_bias; -Infinity bans). */
  logitBias?: ReadonlyMap<number, number> | Readonly<Record<string, number>>;
  /** Seed of the draw (uint32); random when absent. */
  seed?: number;
  /** The filters keep at least this many tokens (llama.cpp min_keep, default 0). */
  minKeep?: number;
  constraint?: TokenConstraint;
}

export interface ResolvedSamplerParams {
  temperature: number;
  topK: number;
  topP: number;
  minP: number;
  typicalP: number;
  repeatPenalty: number;
  frequencyPenalty: number;
  presencePenalty: number;
  repeatLastN: number;
  logitBias: ReadonlyMap<number, number>;
  seed: number;
  minKeep: number;
}

export const SAMPLER_DEFAULTS = {
  temperature: 0.8,
  topK: 40,
  topP: 0.95,
  minP: 0.05,
  typicalP: 1,
  repeatPenalty: 1,
  frequencyPenalty: 0,
  presencePenalty: 0,
  repeatLastN: 64,
  minKeep: 0,
} as const;

function finite(name: string, v: number | undefined, fallback: number): number {
  if (v === undefined) return fallback;
  if (typeof v !== "number" || Number.isNaN(v)) throw new UserError(`${name} must be a number`);
  return v;
}

export function resolveSamplerParams(p: SamplerParams): ResolvedSamplerParams {
  const bias = new Map<number, number>();
  if (p.logitBias) {
    const entries = p.logitBias instanceof Map ? [...p.logitBias] : Object.entries(p.logitBias);
    for (const [k, v] of entries) {
      const id = Number(k);
      if (!Number.isInteger(id) || id < 0) throw new UserError(`logit_bias key ${String(k)} is not a token id`);
      if (typeof v !== "number" || Number.isNaN(v)) throw new UserError(`logit_bias for token ${id} must be a number`);
      bias.set(id, (bias.get(id) ?? 0) + v);
    }
  }
  const repeatLastN = finite("repeat_last_n", p.repeatLastN, SAMPLER_DEFAULTS.repeatLastN);
  if (!Number.isInteger(repeatLastN) || repeatLastN < -1) throw new UserError("repeat_last_n must be an integer ≥ -1");
  const topK = finite("top_k", p.topK, SAMPLER_DEFAULTS.topK);
  return {
    temperature: finite("temperature", p.temperature, SAMPLER_DEFAULTS.temperature),
    topK: Math.trunc(topK),
    topP: finite("top_p", p.topP, SAMPLER_DEFAULTS.topP),
    minP: finite("min_p", p.minP, SAMPLER_DEFAULTS.minP),
    typicalP: finite("typical_p", p.typicalP, SAMPLER_DEFAULTS.typicalP),
    repeatPenalty: finite("repeat_penalty", p.repeatPenalty, SAMPLER_DEFAULTS.repeatPenalty),
    frequencyPenalty: finite("frequency_penalty", p.frequencyPenalty, SAMPLER_DEFAULTS.frequencyPenalty),
    presencePenalty: finite("presence_penalty", p.presencePenalty, SAMPLER_DEFAULTS.presencePenalty),
    repeatLastN,
    logitBias: bias,
    seed: p.seed === undefined ? randomSeed() : p.seed >>> 0,
    minKeep: Math.max(0, Math.trunc(finite("min_keep", p.minKeep, SAMPLER_DEFAULTS.minKeep))),
  };
}

// Each step of the chain, exported so tests can check one at a time against a direct computation.

export function applyLogitBias(c: Candidates, bias: ReadonlyMap<number, number>): void {
  // runs on the freshly loaded list, where entry i is token i
  for (const [id, b] of bias) if (id < c.size) c.logits[id] = c.logits[id]! + b;
}

export class PenaltyWindow {
  private counts: Int32Array;
  private touched: Int32Array;

  constructor(vocab: number) {
    this.counts = new Int32Array(vocab);
    this.touched = new Int32Array(64);
  }

  /** Applies llama.cpp's penalties for the last `lastN` tokens of `history` (list in identity order). */
  apply(c: Candidates, history: ArrayLike<number>, p: ResolvedSamplerParams): void {
    if (p.repeatLastN === 0 || (p.repeatPenalty === 1 && p.frequencyPenalty === 0 && p.presencePenalty === 0)) return;
    const start = p.repeatLastN < 0 ? 0 : Math.max(0, history.length - p.repeatLastN);
    const window = history.length - start;
    if (this.touched.length < window) this.touched = new Int32Array(window);
    let nTouched = 0;
    for (let i = start; i < history.length; i++) {
      const t = history[i]!;
      if (t < 0 || t >= this.counts.length) continue;
      if (this.counts[t]++ === 0) this.touched[nTouched++] = t;
    }
    const { repeatPenalty, frequencyPenalty, presencePenalty } = p;
    for (let j = 0; j < nTouched; j++) {
      const t = this.touched[j]!;
      const count = this.counts[t]!;
      this.counts[t] = 0;
      if (t >= c.size) continue;
      let l = c.logits[t]!;
      l = l <= 0 ? l * repeatPenalty : l / repeatPenalty;
      c.logits[t] = l - (count * frequencyPenalty + presencePenalty);
    }
    c.sorted = false;
  }
}

export function applyTopK(c: Candidates, k: number): void {
  if (k <= 0) return;
  if (c.sorted) c.size = Math.min(c.size, k);
  else c.keepTop(k);
}

export function applyTypical(c: Candidates, p: number, minKeep: number, scratch: Float32Array): void {
  if (p >= 1) return;
  c.sortAll();
  c.softmax();
  const n = c.size;
  let entropy = 0;
  for (let i = 0; i < n; i++) {
    const pi = c.probs[i]!;
    if (pi > 0) entropy -= pi * Math.log(pi);
  }
  for (let i = 0; i < n; i++) scratch[i] = Math.abs(-Math.log(c.probs[i]!) - entropy);
  // cumulative mass in shifted-score order; cut once it exceeds p
  c.reorderBy(scratch, n);
  let cum = 0;
  for (let i = 0; i < n; i++) {
    cum = Math.fround(cum + c.probs[i]!);
    if (cum > p && (minKeep === 0 || i >= minKeep - 1)) {
      c.truncate(i + 1);
      break;
    }
  }
}

export function applyTopP(c: Candidates, p: number, minKeep: number): void {
  if (p >= 1) return;
  c.softmax();
  // most of the mass sits in few tokens: sort 256 first, all of them only when those fall short
  let sortedUpTo = c.size;
  if (!c.sorted && c.size > 1024) {
    c.sortPrefix(256);
    sortedUpTo = 256;
  } else {
    c.sortAll();
  }
  let cum = 0;
  for (let i = 0; i < c.size; i++) {
    if (i === sortedUpTo && !c.sorted) {
      c.sortAll();
      sortedUpTo = c.size;
    }
    cum = Math.fround(cum + c.probs[i]!);
    if (cum >= p && i + 1 >= minKeep) {
      c.truncate(i + 1);
      break;
    }
  }
  c.sorted = true;
}

export function applyMinP(c: Candidates, p: number, minKeep: number): void {
  if (p <= 0 || c.size === 0) return;
  if (!c.sorted) {
    let max = -Infinity;
    for (let i = 0; i < c.size; i++) if (c.logits[i]! > max) max = c.logits[i]!;
    const minLogit = max + Math.fround(Math.log(p));
    let kept = 0;
    for (let i = 0; i < c.size; i++) if (c.logits[i]! >= minLogit) kept++;
    if (kept > 0 && kept >= minKeep) {
      c.filter((i) => c.logits[i]! >= minLogit);
      return;
    }
    c.sortAll();
  }
  const minLogit = c.logits[0]! + Math.fround(Math.log(p));
  let i = 1;
  for (; i < c.size; i++) if (c.logits[i]! < minLogit && i >= minKeep) break;
  c.size = i;
}

/** Index (into the live list) of the highest logit, first one on ties. */
export function argmaxIndex(c: Candidates): number {
  let best = 0;
  for (let i = 1; i < c.size; i++) if (c.logits[i]! > c.logits[best]!) best = i;
  return best;
}

/** llama.cpp's dist sampler: float32 exp weights, one uniform double, first cumulative ≥ target. */
export function drawIndex(c: Candidates, rng: Mt19937): number {
  const n = c.size;
  const r = rng.nextDouble();
  if (n === 1) return 0;
  let max = -Infinity;
  for (let i = 0; i < n; i++) if (c.logits[i]! > max) max = c.logits[i]!;
  let sum = 0;
  for (let i = 0; i < n; i++) {
    const w = Math.fround(Math.exp(c.logits[i]! - max));
    c.probs[i] = w;
    sum += w;
  }
  const target = sum * r;
  let run = 0;
  for (let i = 0; i < n; i++) {
    run += c.probs[i]!;
    if (run >= target) return i;
  }
  return n - 1;
}

export interface Sampler {
  readonly params: ResolvedSamplerParams;
  /**
   * Picks the next token from raw logits (not modified). `history` is every token the penalties
   * may look at: the prompt and what was generated so far.
   */
  sample(logits: Float32Array, history?: ArrayLike<number>): number;
  /** Tells the constraint (if any) that `token` was generated. */
  accept(token: number): void;
  /** Restarts the random stream (same seed unless a new one is given). */
  reset(seed?: number): void;
}

export function createSampler(params: SamplerParams = {}): Sampler {
  const resolved = resolveSamplerParams(params);
  const constraint = params.constraint;
  let rng = new Mt19937(resolved.seed);
  let cands: Candidates | undefined;
  let window: PenaltyWindow | undefined;
  let scratch: Float32Array | undefined;
  let masked: Float32Array | undefined;
  const empty: number[] = [];

  function run(logits: Float32Array, history: ArrayLike<number>): number {
    const V = logits.length;
    if (!cands || cands.capacity !== V) {
      cands = new Candidates(V);
      window = new PenaltyWindow(V);
      scratch = new Float32Array(V);
    }
    const c = cands;
    c.load(logits);
    applyLogitBias(c, resolved.logitBias);
    window!.apply(c, history, resolved);
    // Greedy picks the highest logit (lowest id on ties), which top-k, top-p and min-p always
    // keep; only typical-p can drop it, and it depends on what top-k left. Skipping them saves a
    // top-k selection over the vocabulary on every greedy token.
    const greedy = resolved.temperature <= 0 && resolved.typicalP >= 1;
    if (!greedy) applyTopK(c, resolved.topK);
    applyTypical(c, resolved.typicalP, resolved.minKeep, scratch!);
    if (!greedy) {
      applyTopP(c, resolved.topP, resolved.minKeep);
      applyMinP(c, resolved.minP, resolved.minKeep);
    }
    if (c.size === 0) throw new Error("sampler: no candidate left");
    let best = -Infinity;
    for (let i = 0; i < c.size; i++) if (c.logits[i]! > best) best = c.logits[i]!;
    if (best === -Infinity) throw new UserError("no token can follow: every candidate is banned or disallowed");
    if (resolved.temperature <= 0) return c.ids[argmaxIndex(c)]!;
    const inv = resolved.temperature;
    for (let i = 0; i < c.size; i++) c.logits[i] = c.logits[i]! / inv;
    return c.ids[drawIndex(c, rng)]!;
  }

  return {
    params: resolved,
    sample(logits, history = empty) {
      if (!constraint) return run(logits, history);
      let token = -1;
      try {
        token = run(logits, history);
      } catch (e) {
        if (!(e instanceof UserError)) throw e;
      }
      if (token >= 0 && constraint.allows(token)) return token;
      if (!masked || masked.length !== logits.length) masked = new Float32Array(logits.length);
      masked.set(logits);
      constraint.mask(masked);
      return run(masked, history);
    },
    accept(token) {
      constraint?.accept(token);
    },
    reset(seed) {
      rng = new Mt19937(seed === undefined ? resolved.seed : seed >>> 0);
    },
  };
}
