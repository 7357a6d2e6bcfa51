// Continuous batching must not change results: greedy outputs under 8 concurrent requests are
// token-identical to the same prompts run one at a time, and the forward passes really carried
// several sequences. A client that disconnects mid-stream frees its slot at once.

import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import type { ServingModel } from "../../src/node/http-llama.ts";
import { postJson, scrape, startServer } from "./helpers.ts";

let server: ServingModel;

before(async () => {
  server = await startServer({ parallel: 8, contextSize: 2048 });
});

after(async () => {
  await server.close();
});

const PROMPTS = [
  "Once upon a time",
  "Tom and Lily went to the park. They saw a big dog",
  "The little bird",
  "One day, a girl named Sue found a",
  "Ben liked to play with his red car.",
  "The sun was hot and",
  "Mom said",
  "There was a big tree in the garden, and under it",
];

// Over HTTP the tokens show as their pieces (completions logprobs); the next test compares ids.
async function complete(prompt: string, maxTokens: number): Promise<{ text: string; pieces: string[] }> {
  const res = await postJson(server.url + "/v1/completions", { prompt, max_tokens: maxTokens, temperature: 0, logprobs: 0 });
  assert.equal(res.status, 200);
  const body = (await res.json()) as { choices: Array<{ text: string; logprobs: { tokens: string[] } }> };
  const c = body.choices[0]!;
  return { text: c.text, pieces: c.logprobs.tokens };
}

test("8 concurrent greedy requests give the same tokens as each alone", async () => {
  const n = 24;
  const alone: Array<{ text: string; pieces: string[] }> = [];
  for (const p of PROMPTS) alone.push(await complete(p, n));
  const before = await scrape(server.url);
  const steps0 = before("llamats:engine_steps_total");
  const seqs0 = before("llamats:engine_step_sequences_total");
  const together = await Promise.all(PROMPTS.map((p) => complete(p, n)));
  for (let i = 0; i < PROMPTS.length; i++) {
    assert.deepEqual(together[i]!.pieces, alone[i]!.pieces, `prompt ${i}`);
    assert.equal(together[i]!.text, alone[i]!.text);
    assert.equal(together[i]!.pieces.length, n);
  }
  const m = await scrape(server.url);
  const steps = m("llamats:engine_steps_total") - steps0;
  const seqs = m("llamats:engine_step_sequences_total") - seqs0;
  // 8 × 24 tokens alone would take ~8 × 25 passes; batched they share them
  assert.ok(seqs / steps > 4, `mean batch width ${seqs / steps} over ${steps} steps`);
  assert.ok(steps < 80, `${steps} forward passes`);
});

test("the scheduler's token ids match a plain single-sequence run under concurrency", async () => {
  const engine = server.server.engine!;
  const model = engine.model;
  const run = async (prompt: string) => {
    const ids: number[] = [];
    for await (const e of engine.scheduler.complete({ prompt: model.tokenize(prompt), maxTokens: 20, sampling: { temperature: 0 } })) {
      if (e.type === "token") ids.push(e.token);
    }
    return ids;
  };
  const alone: number[][] = [];
  for (const p of PROMPTS.slice(0, 4)) alone.push(await run(p));
  const together = await Promise.all(PROMPTS.slice(0, 4).flatMap((p) => [run(p), run(p + " and")]));
  for (let i = 0; i < 4; i++) assert.deepEqual(together[2 * i], alone[i]);
});

test("a client that disconnects mid-stream frees its slot and KV cells at once; the next request works", async () => {
  const ac = new AbortController();
  const res = await fetch(server.url + "/v1/chat/completions", {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ messages: [{ role: "user", content: "Tell a long story" }], max_tokens: 200, temperature: 0, stream: true }),
    signal: ac.signal,
  });
  assert.equal(res.status, 200);
  const reader = res.body!.getReader();
  let got = "";
  while ((got.match(/data: /g) ?? []).length < 4) {
    const { value } = await reader.read();
    got += new TextDecoder().decode(value);
  }
  const during = await scrape(server.url);
  assert.equal(during("llamats:num_requests_running"), 1);
  assert.ok(during("llamats:kv_cache_usage_perc") > 0);
  const generatedBefore = during("llamats:generation_tokens_total");
  ac.abort();
  let m = await scrape(server.url);
  for (let i = 0; i < 50 && m("llamats:num_requests_running") !== 0; i++) {
    await new Promise((r) => setTimeout(r, 10));
    m = await scrape(server.url);
  }
  assert.equal(m("llamats:num_requests_running"), 0);
  assert.equal(m("llamats:kv_cache_usage_perc"), 0);
  assert.equal(m("llamats:request_success_total", { finished_reason: "abort" }), 1);
  // stopped within a few tokens of the disconnect, not after 200
  assert.ok(m("llamats:generation_tokens_total") - generatedBefore < 20);
  const next = await postJson(server.url + "/v1/completions", { prompt: "Once upon a time", max_tokens: 8, temperature: 0 });
  assert.equal(next.status, 200);
  const body = (await next.json()) as { choices: Array<{ text: string }> };
  assert.match(body.choices[0]!.text, /^, there was a little girl/);
});
