// The library API on the shipped model: generation, abort, prefix reuse, context limits, errors.

import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { loadModel, UserError, BytesSource, readGguf } from "../../src/index.ts";
import { MemorySink, ggufWriteInputOf, writeGguf } from "../../src/format/gguf.ts";

const MODEL = new URL("../../models/stories260K.gguf", import.meta.url).pathname;

test("generate streams text that equals detokenizing the generated tokens", async () => {
  const model = await loadModel(MODEL, { contextSize: 256 });
  try {
    const gen = model.generate("Once upon a time", { temperature: 0, maxTokens: 30 });
    let text = "";
    for await (const c of gen) text += c.text;
    assert.equal(gen.stats.generatedTokens.length, 30);
    assert.equal(gen.stats.finishReason, "length");
    assert.equal(text, model.detokenize(gen.stats.generatedTokens));
    assert.match(text, /^, there was a little girl/);
  } finally {
    await model.dispose();
  }
});

test("abort stops within one token and the session stays usable", async () => {
  const model = await loadModel(MODEL, { contextSize: 256 });
  try {
    const ac = new AbortController();
    const gen = model.generate("Once upon a time", { temperature: 0, maxTokens: 100, signal: ac.signal });
    let n = 0;
    for await (const _ of gen) if (++n === 5) ac.abort();
    assert.equal(gen.stats.finishReason, "abort");
    assert.equal(gen.stats.generatedTokens.length, 5);
    // The same prompt again reuses the cached prefix and gives the same greedy text.
    const again = model.generate("Once upon a time", { temperature: 0, maxTokens: 5 });
    const text = await again.text();
    assert.equal(again.stats.reusedTokens, again.stats.promptTokens.length - 1);
    assert.equal(text, model.detokenize(gen.stats.generatedTokens));
  } finally {
    await model.dispose();
  }
});

test("a prompt sharing a prefix evaluates only the new tokens, with the same logits", async () => {
  const model = await loadModel(MODEL, { contextSize: 256, kvType: "f32" });
  try {
    const a = model.tokenize("Tom and Lily went to the park.");
    const b = model.tokenize("Tom and Lily went to the park. They saw a big dog");
    const s = model.createSession();
    await s.prompt(a);
    const { logits, reused } = await s.prompt(b);
    assert.equal(reused, a.length);
    const fresh = model.createSession();
    const ref = await fresh.evaluate(b);
    let worst = 0;
    for (let i = 0; i < ref.length; i++) worst = Math.max(worst, Math.abs(ref[i]! - logits[i]!));
    assert.ok(worst < 1e-5, `prefix reuse changed logits by ${worst}`);
  } finally {
    await model.dispose();
  }
});

test("a prompt longer than the context is a clear error, or truncated when asked", async () => {
  const model = await loadModel(MODEL, { contextSize: 16 });
  try {
    const long = "Once upon a time there was a little dog who liked to run in the park with his friends every day";
    const n = model.tokenize(long).length;
    await assert.rejects(model.generate(long, { maxTokens: 4 }).text(), (e: unknown) => {
      assert.ok(e instanceof UserError);
      assert.match(e.message, new RegExp(`${n} tokens.*holds 16 \\(${n - 16} too many\\)`));
      return true;
    });
    const gen = model.generate(long, { maxTokens: 4, truncatePrompt: true, temperature: 0 });
    await gen.text();
    assert.equal(gen.stats.promptTokens.length, 16);
    assert.equal(gen.stats.finishReason, "length");
  } finally {
    await model.dispose();
  }
});

test("stop strings end generation before the stop text", async () => {
  const model = await loadModel(MODEL, { contextSize: 256 });
  try {
    const text = await model.generate("Once upon a time", { temperature: 0, maxTokens: 60, stop: ["Lily"] }).text();
    assert.equal(text, ", there was a little girl named ");
  } finally {
    await model.dispose();
  }
});

test("an unsupported architecture is named in the error", async () => {
  const file = await readGguf(new BytesSource(new Uint8Array(readFileSync(MODEL))));
  const input = ggufWriteInputOf(file);
  const metadata = new Map(input.metadata).set("general.architecture", "mamba");
  const sink = new MemorySink();
  await writeGguf(sink, { ...input, metadata });
  await assert.rejects(loadModel(new BytesSource(sink.bytes())), (e: unknown) => {
    assert.ok(e instanceof UserError);
    assert.match(e.message, /architecture 'mamba' is not supported/);
    return true;
  });
});

test("loading is refused up front when weights + KV cache exceed the available memory", async () => {
  await assert.rejects(loadModel(MODEL, { contextSize: 2048, kvType: "f32", availableMemory: 3_000_000 }), (e: unknown) => {
    assert.ok(e instanceof UserError);
    assert.match(e.message, /needs about 4\.\d MiB \(weights 1\.1 MiB, KV cache 2\.5 MiB for a context of 2048\) but only 2\.9 MiB is available; use a smaller context/);
    return true;
  });
  const model = await loadModel(MODEL, { contextSize: 256, availableMemory: 3_000_000 });
  await model.dispose();
});
