// llama-2-tiny-random.gguf (F16 weights, the full Llama 2 vocabulary) against llama.cpp's stored
// prompt tokens, greedy tokens and top logits, on the reference backend and on wasm (the default).

import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { loadModel } from "../../src/index.ts";
import { FIXTURES_URL } from "../fixtures-path.ts";

const FIX = new URL("models/", FIXTURES_URL);
const expected = JSON.parse(readFileSync(new URL("llama-2-tiny-random.expected.json", FIX), "utf8"));

for (const be of [{ backend: "ref" }, { backend: "wasm", threads: 2 }] as const) test(`llama-2-tiny-random: llama.cpp's prompt tokens, greedy tokens and top-32 logits (${be.backend})`, async () => {
  const model = await loadModel(new URL("llama-2-tiny-random.gguf", FIX).pathname, { ...be, contextSize: 512, kvType: "f16" });
  try {
    assert.deepEqual(model.tokenize(expected.prompt), expected.prompt_tokens);
    const gen = model.generate(expected.prompt, { temperature: 0, maxTokens: expected.greedy_generated_tokens.length });
    await gen.text();
    assert.deepEqual(gen.stats.generatedTokens, expected.greedy_generated_tokens);
    const s = model.createSession();
    let worst = 0;
    for (const row of expected.logits_per_position) {
      const logits = await s.evaluate([row.token]);
      let best = 0;
      for (let i = 1; i < logits.length; i++) if (logits[i]! > logits[best]!) best = i;
      assert.equal(best, row.argmax, `argmax at position ${row.pos}`);
      for (const [id, value] of row.top32) worst = Math.max(worst, Math.abs(logits[id]! - value));
    }
    console.log(`# llama-2-tiny-random (${be.backend}): largest top-32 logit difference ${worst.toExponential(2)}`);
    assert.ok(worst < 1e-3, `largest top-32 logit difference ${worst}`);
  } finally {
    await model.dispose();
  }
});
