// Bad input and overload: each answered with OpenAI's error JSON and the right status, and the
// server keeps answering afterwards.

import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import type { ServingModel } from "../../src/node/http-llama.ts";
import { postJson, startServer } from "./helpers.ts";

let server: ServingModel;
let url: string;

before(async () => {
  server = await startServer({ alias: "stories", parallel: 2, contextSize: 512, maxBodyBytes: 64 * 1024, apiKey: "sekret" });
  url = server.url;
});

after(async () => {
  await server.close();
});

const auth = { authorization: "Bearer sekret" };

async function expectError(res: Response, status: number, pattern?: RegExp): Promise<{ message: string; type: string; param: string | null }> {
  assert.equal(res.status, status, `status ${res.status}`);
  assert.match(res.headers.get("content-type") ?? "", /application\/json/);
  const body = (await res.json()) as { error: { message: string; type: string; param: string | null; code: string | null } };
  assert.equal(typeof body.error.message, "string");
  assert.equal(typeof body.error.type, "string");
  assert.ok("param" in body.error && "code" in body.error);
  if (pattern) assert.match(body.error.message, pattern);
  return body.error;
}

test("401 without or with a wrong API key; /health and /metrics stay open", async () => {
  await expectError(await postJson(url + "/v1/completions", { prompt: "hi" }), 401, /API key/);
  await expectError(await postJson(url + "/v1/completions", { prompt: "hi" }, { authorization: "Bearer nope" }), 401);
  assert.equal((await fetch(url + "/v1/models")).status, 401);
  assert.equal((await fetch(url + "/health")).status, 200);
  assert.equal((await fetch(url + "/metrics")).status, 200);
  const ok = await fetch(url + "/v1/models", { headers: auth });
  assert.equal(ok.status, 200);
});

test("400 for malformed JSON, wrong types and out-of-range fields, naming the field", async () => {
  await expectError(await postJson(url + "/v1/chat/completions", "{not json", auth), 400, /malformed JSON/);
  await expectError(await postJson(url + "/v1/chat/completions", "", auth), 400);
  const e1 = await expectError(await postJson(url + "/v1/chat/completions", { messages: "hi" }, auth), 400);
  assert.equal(e1.param, "messages");
  const e2 = await expectError(await postJson(url + "/v1/chat/completions", { messages: [{ role: "user", content: "x" }], temperature: 9 }, auth), 400);
  assert.equal(e2.param, "temperature");
  await expectError(await postJson(url + "/v1/completions", { prompt: "x", logit_bias: { "99999": 1 } }, auth), 400, /out of range/);
  await expectError(await postJson(url + "/v1/completions", { prompt: [1, 2, 100000] }, auth), 400, /out of range/);
  await expectError(await postJson(url + "/v1/completions", { prompt: "x", n: 3 }, auth), 400, /parallel/);
  await expectError(await postJson(url + "/v1/embeddings", { input: "x", dimensions: 3 }, auth), 400);
  await expectError(await postJson(url + "/detokenize", { tokens: [99999] }, auth), 400);
});

test("400 for a context overflow says by how much", async () => {
  // 2 slots of 256 cells
  const long = "cat ".repeat(300);
  const n = ((await (await postJson(url + "/tokenize", { content: long }, auth)).json()) as { count: number }).count;
  await expectError(await postJson(url + "/v1/completions", { prompt: long }, auth), 400, new RegExp(`${n} tokens .* 256 .*\\(${n - 256} too many\\)`));
  await expectError(await postJson(url + "/v1/completions", { prompt: "cat", max_tokens: 1000 }, auth), 400, /too many/);
});

test("404 for unknown routes and unknown models", async () => {
  await expectError(await fetch(url + "/v2/nothing", { headers: auth }), 404);
  await expectError(await postJson(url + "/v1/chat/completions", { model: "gpt-4o", messages: [{ role: "user", content: "x" }] }, auth), 404, /gpt-4o/);
  await expectError(await fetch(url + "/v1/models/other", { headers: auth }), 404);
});

test("413 for a body over the limit", async () => {
  const big = JSON.stringify({ prompt: "x".repeat(100 * 1024) });
  await expectError(await postJson(url + "/v1/completions", big, auth), 413);
  // the connection pool still works
  assert.equal((await fetch(url + "/health")).status, 200);
});

test("200 malformed bodies: each a 4xx, and the server still answers", async () => {
  const bodies: string[] = [];
  for (let i = 0; i < 200; i++) {
    const kind = i % 8;
    bodies.push(
      kind === 0 ? "{" + "x".repeat(i)
      : kind === 1 ? JSON.stringify([i])
      : kind === 2 ? JSON.stringify({ messages: [{ role: "wizard", content: "x" }] })
      : kind === 3 ? JSON.stringify({ messages: [{ role: "user", content: i }] })
      : kind === 4 ? JSON.stringify({ messages: [{ role: "user", content: "x" }], n: -i })
      : kind === 5 ? JSON.stringify({ messages: [{ role: "user", content: "x" }], max_tokens: "many" })
      : kind === 6 ? "\u0000\u0001".repeat(i % 13)
      : JSON.stringify({ messages: null, stream: "yes" }),
    );
  }
  const statuses = await Promise.all(bodies.map((b) => postJson(url + "/v1/chat/completions", b, auth).then(async (r) => {
    await r.arrayBuffer();
    return r.status;
  })));
  assert.ok(statuses.every((s) => s >= 400 && s < 500), `statuses: ${[...new Set(statuses)].join(",")}`);
  const ok = await postJson(url + "/v1/completions", { prompt: "Once upon a time", max_tokens: 3, temperature: 0 }, auth);
  assert.equal(ok.status, 200);
  assert.equal(((await ok.json()) as { choices: unknown[] }).choices.length, 1);
});

test("503 when the queue is full; the queued request still completes", async () => {
  // The reference backend keeps the first request generating for well over the 100 ms the test
  // waits (the wasm default finishes 60 stories260K tokens in about that time).
  const busy = await startServer({ parallel: 1, maxQueue: 1, contextSize: 256, backend: "ref" });
  try {
    const body = { prompt: "Once upon a time", max_tokens: 60, temperature: 0 };
    const first = postJson(busy.url + "/v1/completions", body);
    // let the first one take the only slot
    await new Promise((r) => setTimeout(r, 50));
    const second = postJson(busy.url + "/v1/completions", body);
    await new Promise((r) => setTimeout(r, 50));
    const third = await postJson(busy.url + "/v1/completions", body);
    const err = await expectError(third, 503, /busy/);
    assert.equal(err.type, "unavailable_error");
    assert.equal(third.headers.get("retry-after"), "1");
    assert.equal((await first).status, 200);
    assert.equal((await second).status, 200);
  } finally {
    await busy.close();
  }
});

test("/health is 503 while loading and 200 when ready", async () => {
  const { createServer } = await import("../../src/server/index.ts");
  const s = createServer({ modelId: "m" });
  const h = await s.fetch(new Request("http://x/health"));
  assert.equal(h.status, 503);
  assert.equal(((await h.json()) as { status: string }).status, "loading");
  const c = await s.fetch(new Request("http://x/v1/completions", { method: "POST", body: JSON.stringify({ prompt: "x" }) }));
  assert.equal(c.status, 503);
  assert.equal((await fetch(url + "/health")).status, 200);
});

test("a forward pass that throws fails only its request (500); the next one is served", async () => {
  const model = server.server.engine!.model;
  const original = model.forwardBatch;
  model.forwardBatch = () => Promise.reject(new Error("simulated kernel fault"));
  const consoleError = console.error;
  console.error = () => {};
  try {
    const res = await postJson(url + "/v1/completions", { prompt: "Once upon a time", max_tokens: 4 }, auth);
    await expectError(res, 500, /simulated kernel fault/);
    const s = await postJson(url + "/v1/completions", { prompt: "Once upon a time", max_tokens: 4, stream: true }, auth);
    assert.equal(s.status, 200);
    const text = await s.text();
    assert.match(text, /"error":\{"message":"internal server error: simulated kernel fault"/);
    assert.match(text, /data: \[DONE\]\n\n$/);
  } finally {
    model.forwardBatch = original;
    console.error = consoleError;
  }
  const ok = await postJson(url + "/v1/completions", { prompt: "Once upon a time", max_tokens: 4, temperature: 0 }, auth);
  assert.equal(ok.status, 200);
  const m = await fetch(url + "/metrics").then((r) => r.text());
  assert.match(m, /llamats:kv_cache_usage_perc\{[^}]*\} 0\n/);
});
