// The shipped real model against reference outputs made by llama2.c's run.c (float32) and by
// llama.cpp for the quantized variants: greedy tokens exactly, logits within tolerance. Every test
// runs on both backends: the reference (plain TS) and wasm (the default; 2 threads).

import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { loadModel } from "../../src/index.ts";
import { FIXTURES_URL } from "../fixtures-path.ts";
import { greedyTokens, untilEog } from "../greedy.ts";

const FIX = new URL("models/", FIXTURES_URL);
const expected = JSON.parse(readFileSync(new URL("stories260K.expected.json", FIX), "utf8"));
const quantExpected = JSON.parse(readFileSync(new URL("quantized/stories260K-quantized.expected.json", FIX), "utf8"));

const BACKENDS = [{ backend: "ref" }, { backend: "wasm", threads: 2 }] as const;

const greedy = (be: (typeof BACKENDS)[number], path: string, prompt: number[], steps: number, kvType: "f32" | "f16" = "f32") =>
  greedyTokens(path, prompt, steps, { ...be, kvType, contextSize: 512 });

for (const be of BACKENDS) {
  for (const c of expected.cases) {
    test(`stories260K greedy: ${c.name} (${be.backend})`, async () => {
      const want = untilEog(c.generated_tokens);
      const got = await greedy(be, new URL("stories260K.gguf", FIX).pathname, c.prompt_tokens, want.length);
      assert.deepEqual(got, want);
    });
  }

  test(`stories260K logits at positions 0..7 within 1e-4 of run.c (f32 KV cache, ${be.backend})`, async () => {
    const model = await loadModel(new URL("stories260K.gguf", FIX).pathname, { ...be, kvType: "f32", contextSize: 64 });
    try {
      const s = model.createSession();
      let worst = 0;
      for (const row of expected.logits) {
        assert.equal(s.tokens.length, row.pos);
        const logits = await s.evaluate([row.token]);
        for (let i = 0; i < row.logits.length; i++) worst = Math.max(worst, Math.abs(logits[i]! - row.logits[i]));
      }
      assert.ok(worst < 1e-4, `largest logit difference ${worst}`);
    } finally {
      await model.dispose();
    }
  });

  test(`the text decodes to run.c's story (${be.backend})`, async () => {
    const model = await loadModel(new URL("stories260K.gguf", FIX).pathname, { ...be, kvType: "f32", contextSize: 512 });
    try {
      const c = expected.cases.find((x: { name: string }) => x.name === "greedy_once_upon_a_time");
      const text = await model.generate(c.prompt, { temperature: 0, maxTokens: 40 }).text();
      assert.ok(c.stdout_text.startsWith(c.prompt + text.trimEnd().slice(0, 60)), `got ${JSON.stringify(text)}`);
    } finally {
      await model.dispose();
    }
  });

  for (const v of quantExpected.variants) {
    test(`${v.file}: llama.cpp's greedy tokens and logits (${be.backend})`, async () => {
      const path = new URL(v.file, FIX).pathname;
      const model = await loadModel(path, { ...be, kvType: "f16", contextSize: 128 });
      try {
        assert.deepEqual(model.tokenize(v.prompt), v.prompt_tokens);
        const gen = model.generate(v.prompt_tokens, { temperature: 0, maxTokens: v.llamacpp_greedy_generated_tokens.length });
        await gen.text();
        assert.deepEqual(gen.stats.generatedTokens, untilEog(v.llamacpp_greedy_generated_tokens));
        const s = model.createSession();
        let worst = 0;
        for (const row of v.llamacpp_logits) {
          const logits = await s.evaluate([row.token]);
          for (let i = 0; i < row.logits.length; i++) worst = Math.max(worst, Math.abs(logits[i]! - row.logits[i]));
        }
        assert.ok(worst < v.suggested_logit_abs_tolerance_vs_llamacpp, `largest logit difference ${worst}`);
      } finally {
        await model.dispose();
      }
    });
  }
}
