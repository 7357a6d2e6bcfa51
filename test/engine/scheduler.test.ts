// The continuous-batching scheduler on stories260K: prefix reuse across slots, shared prompt
// cells for n choices, cancellation of waiting and running requests, and embeddings equal to a
// direct computation.

import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { loadModel, type Model } from "../../src/index.ts";
import { Scheduler, type JobEvent } from "../../src/engine/scheduler.ts";

const MODEL = new URL("../../models/stories260K.gguf", import.meta.url).pathname;
let model: Model;

before(async () => {
  model = await loadModel(MODEL, { contextSize: 1024 });
});
after(async () => {
  await model.dispose();
});

async function drain(events: AsyncIterable<JobEvent>): Promise<JobEvent[]> {
  const out: JobEvent[] = [];
  for await (const e of events) out.push(e);
  return out;
}

const cachedOf = (events: JobEvent[]) => (events.find((e) => e.type === "started") as { cachedTokens: number }).cachedTokens;

test("a prompt goes to the free slot holding its prefix; unrelated prompts do not evict it", async () => {
  const s = new Scheduler(model, { parallel: 2 });
  const a = model.tokenize("Tom and Lily went to the park. They saw a big dog");
  const b = model.tokenize("The sun was hot");
  const c = model.tokenize("One day, a bird");
  const run = (prompt: number[]) => drain(s.complete({ prompt, maxTokens: 3, sampling: { temperature: 0 } }));
  assert.equal(cachedOf(await run(a)), 0);
  await run(b);
  await run(c);
  assert.equal(cachedOf(await run(a)), a.length - 1);
  assert.equal(s.kvCellsUsed, 0);
  assert.ok(s.kvCellsCached > a.length);
});

test("n choices share the prompt's cells and each gets its own done event", async () => {
  const s = new Scheduler(model, { parallel: 4 });
  const prompt = model.tokenize("Once upon a time, in a small town, there lived a boy who");
  let peak = 0;
  const events: JobEvent[] = [];
  for await (const e of s.complete({ prompt, n: 3, maxTokens: 5, sampling: { temperature: 0 } })) {
    events.push(e);
    peak = Math.max(peak, s.kvCellsUsed);
  }
  // copies share cells: one prompt plus each choice's own tokens, not three prompts
  assert.ok(peak <= prompt.length + 3 * 5, `peak ${peak}`);
  const done = events.filter((e) => e.type === "done");
  assert.deepEqual(done.map((e) => e.choice).sort(), [0, 1, 2]);
  const texts = [0, 1, 2].map((c) => events.filter((e) => (e.type === "token" || e.type === "done") && e.choice === c).map((e) => (e as { text: string }).text).join(""));
  assert.equal(texts[1], texts[0]);
  assert.equal(texts[2], texts[0]);
});

test("cancelling a waiting request and a running one frees everything", async () => {
  const s = new Scheduler(model, { parallel: 1 });
  const prompt = model.tokenize("Once upon a time");
  const cellsBefore = model.kvUsed();
  const running = new AbortController();
  const waiting = new AbortController();
  const first = s.complete({ prompt, maxTokens: 200, sampling: { temperature: 0 }, signal: running.signal });
  const second = drain(s.complete({ prompt, maxTokens: 200, sampling: { temperature: 0 }, signal: waiting.signal }));
  assert.equal(s.waiting, 1);
  waiting.abort();
  assert.equal(s.waiting, 0);
  const secondEvents = await second;
  assert.deepEqual(secondEvents.map((e) => e.type), ["done"]);
  let tokens = 0;
  let reason: string | undefined;
  for await (const e of first) {
    if (e.type === "token" && ++tokens === 3) running.abort();
    if (e.type === "done") reason = e.finishReason;
  }
  assert.equal(reason, "abort");
  assert.ok(tokens <= 4);
  assert.equal(s.running, 0);
  assert.equal(s.kvCellsUsed, 0);
  assert.equal(s.kvCellsCached, 0, "an aborted sequence keeps no cells");
  assert.equal(model.kvUsed(), cellsBefore);
});

test("embeddings are the normalized mean of the final hidden states, whatever runs beside them", async () => {
  const s = new Scheduler(model, { parallel: 2 });
  const tokens = model.tokenize("The cat sat on the mat.");
  const seq = model.allocateSeqId();
  const hidden = await model.forwardHidden(Int32Array.from(tokens), new Int32Array(tokens.length).fill(seq), Int32Array.from(tokens, (_, i) => i));
  model.kvTruncate(seq, 0);
  const dim = model.config.dim;
  const mean = new Float64Array(dim);
  for (let r = 0; r < tokens.length; r++) for (let d = 0; d < dim; d++) mean[d]! += hidden[r * dim + d]! / tokens.length;
  const norm = Math.hypot(...mean);
  const [emb, gen] = await Promise.all([
    drain(s.embed({ tokens })),
    drain(s.complete({ prompt: model.tokenize("Once upon a time"), maxTokens: 8, sampling: { temperature: 0 } })),
  ]);
  const v = (emb.find((e) => e.type === "embedding") as { vector: Float32Array }).vector;
  assert.equal(v.length, dim);
  for (let d = 0; d < dim; d++) assert.ok(Math.abs(v[d]! - mean[d]! / norm) < 1e-5);
  assert.ok(gen.some((e) => e.type === "done" && e.finishReason === "length"));
});
