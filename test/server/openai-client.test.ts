// The official `openai` client, unchanged, against a live server on stories260K: chat and
// completions (whole and streamed), n, stop, seeds, logprobs, usage with cached tokens,
// embeddings, models, and errors mapped to the client's exception classes.

import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import OpenAI from "openai";
import type { ServingModel } from "../../src/node/http-llama.ts";
import { scrape, startServer } from "./helpers.ts";

let server: ServingModel;
let client: OpenAI;
const MODEL_ID = "stories";

before(async () => {
  server = await startServer({ alias: MODEL_ID, parallel: 4 });
  client = new OpenAI({ baseURL: server.url + "/v1", apiKey: "unused", maxRetries: 0 });
});

after(async () => {
  await server.close();
});

test("completions: greedy text is the model's known continuation", async () => {
  const r = await client.completions.create({ model: MODEL_ID, prompt: "Once upon a time", max_tokens: 20, temperature: 0 });
  assert.equal(r.object, "text_completion");
  assert.equal(r.choices.length, 1);
  assert.match(r.choices[0]!.text, /^, there was a little girl named Lily/);
  assert.equal(r.choices[0]!.finish_reason, "length");
  assert.equal(r.usage!.prompt_tokens, 5);
  assert.equal(r.usage!.completion_tokens, 20);
  assert.equal(r.usage!.total_tokens, 25);
});

test("completions stream: chunks concatenate to the non-streamed text; usage comes last", async () => {
  const whole = await client.completions.create({ model: MODEL_ID, prompt: "Tom and Lily went", max_tokens: 24, temperature: 0 });
  const stream = await client.completions.create({
    model: MODEL_ID, prompt: "Tom and Lily went", max_tokens: 24, temperature: 0, stream: true, stream_options: { include_usage: true },
  });
  let text = "";
  let finish: string | null = null;
  let usage: OpenAI.CompletionUsage | null | undefined;
  let chunks = 0;
  for await (const c of stream) {
    chunks++;
    if (c.choices.length > 0) {
      text += c.choices[0]!.text;
      finish = c.choices[0]!.finish_reason ?? finish;
    }
    if (c.usage) usage = c.usage;
  }
  assert.ok(chunks > 5, `only ${chunks} chunks`);
  assert.equal(text, whole.choices[0]!.text);
  assert.equal(finish, "length");
  assert.equal(usage?.completion_tokens, 24);
});

test("chat: non-stream and stream agree; the assistant message has content", async () => {
  const messages = [{ role: "user" as const, content: "Tell me a story about a cat." }];
  const whole = await client.chat.completions.create({ model: MODEL_ID, messages, max_tokens: 16, temperature: 0 });
  assert.equal(whole.object, "chat.completion");
  const msg = whole.choices[0]!.message;
  assert.equal(msg.role, "assistant");
  assert.ok(msg.content && msg.content.length > 0);
  assert.equal(whole.usage!.completion_tokens, 16);
  const stream = await client.chat.completions.create({ model: MODEL_ID, messages, max_tokens: 16, temperature: 0, stream: true });
  let text = "";
  let role: string | undefined;
  let finish: string | null = null;
  for await (const c of stream) {
    const ch = c.choices[0];
    if (!ch) continue;
    role ??= ch.delta.role;
    text += ch.delta.content ?? "";
    finish = ch.finish_reason ?? finish;
  }
  assert.equal(role, "assistant");
  assert.equal(text, msg.content);
  assert.equal(finish, "length");
});

test("n > 1: greedy choices are identical; seeded sampling differs between choices but repeats per seed", async () => {
  const greedy = await client.completions.create({ model: MODEL_ID, prompt: "Once upon a time", max_tokens: 12, temperature: 0, n: 3 });
  assert.equal(greedy.choices.length, 3);
  assert.deepEqual(greedy.choices.map((c) => c.index), [0, 1, 2]);
  assert.ok(greedy.choices.every((c) => c.text === greedy.choices[0]!.text));
  assert.equal(greedy.usage!.completion_tokens, 36);
  const opts = { model: MODEL_ID, prompt: "Once upon a time", max_tokens: 24, temperature: 1.5, n: 3, seed: 1234 };
  const a = await client.completions.create(opts);
  const b = await client.completions.create(opts);
  assert.deepEqual(a.choices.map((c) => c.text), b.choices.map((c) => c.text));
  assert.ok(new Set(a.choices.map((c) => c.text)).size > 1, "choices of one request should draw differently");
  const c = await client.completions.create({ ...opts, seed: 99 });
  assert.notDeepEqual(a.choices.map((x) => x.text), c.choices.map((x) => x.text));
});

test("stop strings end the text before them with finish_reason stop", async () => {
  const r = await client.completions.create({ model: MODEL_ID, prompt: "Once upon a time", max_tokens: 40, temperature: 0, stop: [" Lily"] });
  assert.equal(r.choices[0]!.text, ", there was a little girl named");
  assert.equal(r.choices[0]!.finish_reason, "stop");
  const s = await client.completions.create({ model: MODEL_ID, prompt: "Once upon a time", max_tokens: 40, temperature: 0, stop: " Lily", stream: true });
  let text = "";
  for await (const c of s) text += c.choices[0]?.text ?? "";
  assert.equal(text, ", there was a little girl named");
});

test("logprobs: chat reports one entry per token with sorted alternatives; completions the legacy shape", async () => {
  const r = await client.chat.completions.create({
    model: MODEL_ID, messages: [{ role: "user", content: "Hi" }], max_tokens: 8, temperature: 0, logprobs: true, top_logprobs: 3,
  });
  const content = r.choices[0]!.logprobs!.content!;
  assert.equal(content.length, r.usage!.completion_tokens);
  assert.equal(content.map((c) => c.token).join(""), r.choices[0]!.message.content);
  for (const e of content) {
    assert.ok(e.logprob <= 0);
    assert.equal(e.top_logprobs.length, 3);
    // greedy: the chosen token is the most likely one
    assert.equal(e.top_logprobs[0]!.token, e.token);
    assert.ok(Math.abs(e.top_logprobs[0]!.logprob - e.logprob) < 1e-9);
    assert.ok(e.top_logprobs[0]!.logprob >= e.top_logprobs[1]!.logprob && e.top_logprobs[1]!.logprob >= e.top_logprobs[2]!.logprob);
    assert.deepEqual(Buffer.from(e.bytes!).toString("utf8"), e.token);
  }
  const c = await client.completions.create({ model: MODEL_ID, prompt: "Once upon a time", max_tokens: 6, temperature: 0, logprobs: 2 });
  const lp = c.choices[0]!.logprobs!;
  assert.equal(lp.tokens!.length, 6);
  assert.equal(lp.tokens!.join(""), c.choices[0]!.text);
  assert.equal(lp.top_logprobs!.length, 6);
  assert.equal(Object.keys(lp.top_logprobs![0]!).length, 2);
  assert.deepEqual(lp.text_offset!.slice(0, 2), [0, lp.tokens![0]!.length]);
});

test("a repeated prompt reuses the cached prefix (usage.prompt_tokens_details.cached_tokens)", async () => {
  const prompt = "Lily and Ben played with a red ball in the garden. The sun was";
  const first = await client.completions.create({ model: MODEL_ID, prompt, max_tokens: 4, temperature: 0 });
  const second = await client.completions.create({ model: MODEL_ID, prompt, max_tokens: 4, temperature: 0 });
  const n = first.usage!.prompt_tokens;
  assert.equal(second.usage!.prompt_tokens, n);
  // everything but the last token (whose logits are needed again) comes from the cache
  assert.equal(second.usage!.prompt_tokens_details!.cached_tokens, n - 1);
  assert.equal(second.choices[0]!.text, first.choices[0]!.text);
  // a longer prompt with the same beginning reuses it too
  const third = await client.completions.create({ model: MODEL_ID, prompt: prompt + " hot and bright.", max_tokens: 4, temperature: 0 });
  assert.ok(third.usage!.prompt_tokens_details!.cached_tokens! >= n - 1);
  const m = await scrape(server.url);
  assert.ok(m("llamats:prefix_cache_hits_total") >= 2 * (n - 1));
});

test("embeddings: one unit vector of the model's width per input, float and base64 agree", async () => {
  const r = await client.embeddings.create({ model: MODEL_ID, input: ["The cat sat.", "A dog ran in the park."] });
  assert.equal(r.object, "list");
  assert.equal(r.data.length, 2);
  for (const d of r.data) {
    assert.equal(d.embedding.length, 64);
    const norm = Math.sqrt(d.embedding.reduce((a, x) => a + x * x, 0));
    assert.ok(Math.abs(norm - 1) < 1e-5, `norm ${norm}`);
  }
  assert.notDeepEqual(r.data[0]!.embedding, r.data[1]!.embedding);
  const f = await client.embeddings.create({ model: MODEL_ID, input: "The cat sat.", encoding_format: "float" });
  const a = r.data[0]!.embedding;
  const b = f.data[0]!.embedding;
  // the same text alone or beside another input: equal up to float noise of the batch kernels
  assert.ok(a.every((x, i) => Math.abs(x - b[i]!) < 1e-4));
  assert.ok(r.usage.prompt_tokens > 0);
});

test("models lists the alias", async () => {
  const list = await client.models.list();
  assert.deepEqual(list.data.map((m) => m.id), [MODEL_ID]);
  const one = await client.models.retrieve(MODEL_ID);
  assert.equal(one.id, MODEL_ID);
});

test("errors reach the client as its exception classes", async () => {
  await assert.rejects(client.chat.completions.create({ model: "gpt-4o", messages: [{ role: "user", content: "hi" }] }), OpenAI.NotFoundError);
  await assert.rejects(
    client.completions.create({ model: MODEL_ID, prompt: "word ".repeat(600), max_tokens: 4 }),
    (e: unknown) => e instanceof OpenAI.BadRequestError && /too many/.test(e.message),
  );
  await assert.rejects(client.chat.completions.create({ model: MODEL_ID, messages: [] }), OpenAI.BadRequestError);
});

test("response_format: json_schema output parses and satisfies the schema; json_object gives an object", async () => {
  const schema = {
    type: "object",
    properties: { name: { type: "string", maxLength: 12 }, age: { type: "integer" }, happy: { type: "boolean" } },
    required: ["name", "age", "happy"],
    additionalProperties: false,
  };
  const r = await client.chat.completions.create({
    model: MODEL_ID,
    messages: [{ role: "user", content: "Describe Lily as JSON" }],
    temperature: 0,
    max_tokens: 80,
    response_format: { type: "json_schema", json_schema: { name: "person", schema, strict: true } },
  });
  assert.equal(r.choices[0]!.finish_reason, "stop");
  const value = JSON.parse(r.choices[0]!.message.content!) as Record<string, unknown>;
  assert.deepEqual(Object.keys(value).sort(), ["age", "happy", "name"]);
  assert.equal(typeof value.name, "string");
  assert.ok(Number.isInteger(value.age));
  assert.equal(typeof value.happy, "boolean");
  const o = await client.completions.create({
    model: MODEL_ID, prompt: "Once upon a time", max_tokens: 60, temperature: 0.8, seed: 5,
    // response_format on the legacy endpoint is a vLLM/llama.cpp extension
    ...({ response_format: { type: "json_object" } } as object),
  });
  if (o.choices[0]!.finish_reason === "stop") {
    const obj = JSON.parse(o.choices[0]!.text) as unknown;
    assert.ok(obj !== null && typeof obj === "object" && !Array.isArray(obj));
  } else {
    assert.match(o.choices[0]!.text.trimStart(), /^\{/);
  }
});
