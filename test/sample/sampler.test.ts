import { test } from "node:test";
import assert from "node:assert/strict";
import { Candidates } from "../../src/sample/candidates.ts";
import { Mt19937 } from "../../src/sample/rng.ts";
import {
  applyMinP, applyTopK, applyTopP, applyTypical, createSampler, PenaltyWindow, resolveSamplerParams,
} from "../../src/sample/sampler.ts";
import { tokenLogprobs } from "../../src/sample/logprobs.ts";

// a small deterministic source of test logits, independent of the sampler's generator
function lcg(seed: number) {
  let s = seed >>> 0;
  return () => ((s = (Math.imul(s, 1664525) + 1013904223) >>> 0) / 4294967296);
}
function randomLogits(n: number, seed: number, scale = 4): Float32Array {
  const r = lcg(seed);
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) out[i] = (r() - 0.5) * 2 * scale;
  return out;
}
function softmax64(l: ArrayLike<number>): number[] {
  let m = -Infinity;
  for (let i = 0; i < l.length; i++) m = Math.max(m, l[i]!);
  const e = Array.from(l, (x) => Math.exp(x - m));
  const s = e.reduce((a, b) => a + b, 0);
  return e.map((x) => x / s);
}
function load(l: Float32Array): Candidates {
  const c = new Candidates(l.length);
  c.load(l);
  return c;
}
const live = (c: Candidates) => Array.from(c.ids.subarray(0, c.size));
const byLogitDesc = (l: ArrayLike<number>) => Array.from({ length: l.length }, (_, i) => i).sort((a, b) => l[b]! - l[a]! || a - b);

test("mt19937 matches the C++ standard's reference value (10000th output of seed 5489)", () => {
  const r = new Mt19937(5489);
  let v = 0;
  for (let i = 0; i < 10000; i++) v = r.nextU32();
  assert.equal(v, 4123659995);
  const d = new Mt19937(1).nextDouble();
  assert.ok(d >= 0 && d < 1);
});

test("top-k keeps exactly the k highest, best first (partial selection on a 128k vocabulary)", () => {
  for (const [n, k] of [[10, 3], [1000, 40], [128256, 40], [50, 50], [50, 80]] as const) {
    const l = randomLogits(n, n + k);
    const c = load(l);
    applyTopK(c, k);
    assert.deepEqual(live(c), byLogitDesc(l).slice(0, Math.min(k, n)));
    assert.equal(c.sorted, true);
  }
  const c = load(randomLogits(20, 1));
  applyTopK(c, 0);
  assert.equal(c.size, 20, "k ≤ 0 keeps all");
});

test("top-p keeps the minimal most-likely prefix whose mass reaches p", () => {
  for (const [n, seed] of [[16, 1], [300, 2], [5000, 3], [128256, 4]] as const) {
    for (const p of [0.1, 0.5, 0.9, 0.95]) {
      const l = randomLogits(n, seed, n > 1000 ? 12 : 3);
      const probs = softmax64(l);
      const order = byLogitDesc(l);
      let cum = 0;
      let want = order.length;
      for (let i = 0; i < order.length; i++) {
        cum += probs[order[i]!]!;
        if (cum >= p) { want = i + 1; break; }
      }
      const c = load(l);
      applyTopP(c, p, 0);
      const got = live(c);
      assert.deepEqual(got, order.slice(0, got.length), `n=${n} p=${p}: a most-likely prefix`);
      if (got.length !== want) {
        // float32 accumulation (as llama.cpp does it) may move the cut only while the float64
        // mass there is within the rounding error of that many float32 additions
        const mass = (k: number) => order.slice(0, k).reduce((a, i) => a + probs[i]!, 0);
        const tol = 6e-8 * want + 1e-6;
        for (const k of [got.length - 1, got.length]) assert.ok(k === 0 || Math.abs(mass(k) - p) < tol || (k === got.length) === mass(k) >= p, `n=${n} p=${p}: ${got.length} vs ${want}`);
      }
    }
  }
});

test("min-p keeps tokens with probability ≥ p × the top probability, in vocabulary order", () => {
  const l = randomLogits(2000, 9, 6);
  const probs = softmax64(l);
  const pmax = Math.max(...probs);
  for (const p of [0.01, 0.05, 0.3, 0.9]) {
    const c = load(l);
    applyMinP(c, p, 0);
    const want = probs.map((q, i) => [q, i] as const).filter(([q]) => q >= p * pmax * (1 - 1e-6)).map(([, i]) => i);
    assert.deepEqual(live(c), want, `p=${p}`);
  }
});

test("typical-p keeps the tokens closest to the entropy until their mass exceeds p", () => {
  const l = randomLogits(64, 5, 3);
  for (const p of [0.2, 0.5, 0.9]) {
    const probs = softmax64(l);
    const H = -probs.reduce((a, q) => a + q * Math.log(q), 0);
    const order = probs.map((q, i) => [Math.abs(-Math.log(q) - H), i] as const).sort((a, b) => a[0] - b[0]).map(([, i]) => i);
    let cum = 0;
    let want = order.length;
    for (let i = 0; i < order.length; i++) {
      cum += probs[order[i]!]!;
      if (cum > p) { want = i + 1; break; }
    }
    const c = load(l);
    applyTypical(c, p, 0, new Float32Array(64));
    assert.deepEqual(live(c), order.slice(0, want), `p=${p}`);
  }
});

test("penalties follow llama.cpp: repeat divides positive / multiplies negative logits, frequency × count and presence subtract", () => {
  const l = new Float32Array([2, -1, 0.5, 3, -2, 1]);
  const history = [9, 0, 1, 1, 3, 0, 0]; // last 5: 1,1,3,0,0 (9 and the first 0 fall outside)
  const params = resolveSamplerParams({ repeatPenalty: 1.5, frequencyPenalty: 0.25, presencePenalty: 0.5, repeatLastN: 5, seed: 1 });
  const c = load(l);
  new PenaltyWindow(6).apply(c, history, params);
  const expect = [2 / 1.5 - (2 * 0.25 + 0.5), -1 * 1.5 - (2 * 0.25 + 0.5), 0.5, 3 / 1.5 - (1 * 0.25 + 0.5), -2, 1];
  expect.forEach((v, i) => assert.ok(Math.abs(c.logits[i]! - v) < 1e-6, `token ${i}: ${c.logits[i]} vs ${v}`));
  // repeatLastN -1: whole history; 0: disabled
  const all = load(l);
  new PenaltyWindow(6).apply(all, history, resolveSamplerParams({ repeatPenalty: 2, repeatLastN: -1, seed: 1 }));
  assert.equal(all.logits[0], 1);
  const off = load(l);
  new PenaltyWindow(6).apply(off, history, resolveSamplerParams({ repeatPenalty: 2, repeatLastN: 0, seed: 1 }));
  assert.equal(off.logits[0], 2);
});

test("temperature 0 is greedy after bias and penalties", () => {
  const l = new Float32Array([1, 5, 3, 4.9]);
  assert.equal(createSampler({ temperature: 0 }).sample(l), 1);
  assert.equal(createSampler({ temperature: 0, logitBias: { 1: -Infinity } }).sample(l), 3);
  assert.equal(createSampler({ temperature: 0, repeatPenalty: 1.1 }).sample(l, [1]), 3);
  assert.equal(createSampler({ temperature: 0, logitBias: new Map([[0, 10]]) }).sample(l), 0);
});

test("seeded draws are deterministic and follow softmax(logits / T) over the kept set", () => {
  const l = new Float32Array([1.0, 0.2, -0.5, 2.0, 0.0, -3.0, 1.5, 0.7]);
  const run = (seed: number) => {
    const s = createSampler({ seed, temperature: 0.7, topK: 0, topP: 1, minP: 0 });
    return Array.from({ length: 50 }, () => s.sample(l));
  };
  assert.deepEqual(run(42), run(42));
  assert.notDeepEqual(run(42), run(43));

  const T = 0.7;
  const want = softmax64(Array.from(l, (x) => x / T));
  const s = createSampler({ seed: 7, temperature: T, topK: 0, topP: 1, minP: 0 });
  const N = 40000;
  const counts = new Array(8).fill(0);
  for (let i = 0; i < N; i++) counts[s.sample(l)]++;
  for (let i = 0; i < 8; i++) {
    const sd = Math.sqrt(N * want[i]! * (1 - want[i]!));
    assert.ok(Math.abs(counts[i] - N * want[i]!) < 5 * sd + 1, `token ${i}: ${counts[i]} vs ${N * want[i]!}`);
  }
});

test("full chain: the draw's distribution equals a direct computation of top-k → top-p → min-p → temperature", () => {
  const l = randomLogits(200, 11, 3);
  const params = { topK: 20, topP: 0.8, minP: 0.1, temperature: 1.3 };
  const order = byLogitDesc(l).slice(0, 20);
  const p1 = softmax64(order.map((i) => l[i]!));
  let cum = 0;
  let cut = order.length;
  for (let i = 0; i < order.length; i++) { cum += p1[i]!; if (cum >= 0.8) { cut = i + 1; break; } }
  const afterP = order.slice(0, cut);
  const maxL = l[afterP[0]!]!;
  const kept = afterP.filter((i) => l[i]! >= maxL + Math.log(0.1));
  const final = softmax64(kept.map((i) => l[i]! / 1.3));
  const s = createSampler({ ...params, seed: 3 });
  const N = 30000;
  const counts = new Map<number, number>();
  for (let i = 0; i < N; i++) { const t = s.sample(l); counts.set(t, (counts.get(t) ?? 0) + 1); }
  assert.deepEqual([...counts.keys()].sort((a, b) => a - b), [...kept].sort((a, b) => a - b));
  kept.forEach((id, j) => {
    const sd = Math.sqrt(N * final[j]! * (1 - final[j]!));
    assert.ok(Math.abs(counts.get(id)! - N * final[j]!) < 5 * sd + 1);
  });
});

test("constraint: an allowed pick is kept, a disallowed one is redrawn from the masked logits", () => {
  const l = new Float32Array([5, 1, 0.5, 0.2]);
  const accepted: number[] = [];
  const constraint = {
    allows: (t: number) => t === 2 || t === 3,
    mask: (x: Float32Array) => { x[0] = -Infinity; x[1] = -Infinity; },
    accept: (t: number) => { accepted.push(t); },
  };
  const s = createSampler({ seed: 1, temperature: 1, topK: 0, topP: 1, minP: 0, constraint });
  for (let i = 0; i < 100; i++) {
    const t = s.sample(l);
    assert.ok(t === 2 || t === 3);
    s.accept(t);
  }
  assert.equal(accepted.length, 100);
  assert.equal(l[0], 5, "the caller's logits are not modified");
});

test("logprobs are the log-softmax of raw logits with the top n best first", () => {
  const l = randomLogits(1000, 21);
  const probs = softmax64(l);
  const r = tokenLogprobs(l, 17, 5);
  assert.ok(Math.abs(r.logprob - Math.log(probs[17]!)) < 1e-9);
  assert.deepEqual(r.top.map((t) => t.token), byLogitDesc(l).slice(0, 5));
  r.top.forEach((t) => assert.ok(Math.abs(t.logprob - Math.log(probs[t.token]!)) < 1e-9));
  assert.throws(() => tokenLogprobs(l, 0, 21), RangeError);
});

test("cost per token on a 128k vocabulary with the default chain", () => {
  const l = randomLogits(128256, 99, 8);
  const history = Array.from({ length: 256 }, (_, i) => (i * 7919) % 128256);
  const s = createSampler({ seed: 5, repeatPenalty: 1.1 });
  s.sample(l, history);
  const t0 = performance.now();
  const n = 30;
  for (let i = 0; i < n; i++) s.sample(l, history);
  const ms = (performance.now() - t0) / n;
  console.log(`# sampler: ${ms.toFixed(3)} ms/token (128256 vocab, top-k 40, top-p 0.95, min-p 0.05, penalties)`);
  assert.ok(ms < 50, `${ms} ms per token`);
});
