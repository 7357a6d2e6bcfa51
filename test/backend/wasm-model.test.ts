// The whole model on the wasm backend: stories260K (F32) and its llama.cpp-quantized variants
// produce exactly the greedy tokens of the references, with 1 and 2 threads.

import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { FIXTURES_URL } from "../fixtures-path.ts";
import { greedyTokens, untilEog } from "../greedy.ts";

const FIX = new URL("models/", FIXTURES_URL);
const expected = JSON.parse(readFileSync(new URL("stories260K.expected.json", FIX), "utf8"));
const quantExpected = JSON.parse(readFileSync(new URL("quantized/stories260K-quantized.expected.json", FIX), "utf8"));

const greedy = (path: string, prompt: number[], steps: number, threads: number, kvType: "f32" | "f16") =>
  greedyTokens(path, prompt, steps, { backend: "wasm", threads, kvType, contextSize: 512 });

for (const threads of [1, 2]) {
  test(`stories260K greedy tokens on the wasm backend (threads=${threads})`, async () => {
    for (const c of expected.cases.slice(0, 2)) {
      const want = untilEog(c.generated_tokens);
      assert.deepEqual(await greedy(new URL("stories260K.gguf", FIX).pathname, c.prompt_tokens, want.length, threads, "f32"), want, c.name);
    }
  });

  test(`stories260K F16 / Q5_0 / Q5_1 / Q8_0 mixes: llama.cpp's greedy tokens on the wasm backend (threads=${threads})`, async () => {
    for (const v of quantExpected.variants) {
      const want = untilEog(v.llamacpp_greedy_generated_tokens);
      assert.deepEqual(await greedy(new URL(v.file, FIX).pathname, v.prompt_tokens, want.length, threads, "f16"), want, v.file);
    }
  });
}
