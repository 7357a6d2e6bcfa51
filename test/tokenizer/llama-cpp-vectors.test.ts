// llama.cpp's own tokenizer test vectors (test-tokenizer-0 settings: no BOS, no special parsing),
// and the stories260K cases produced by llama-tokenize on a 512-token SentencePiece vocabulary.

import assert from "node:assert/strict";
import { test } from "node:test";
import { BPE_GGUF, SPM_GGUF, STORIES_GGUF, ggufTokenizer, llamaCppVectors, readJson } from "./fixtures.ts";

for (const [label, gguf, base] of [
  ["llama-spm", SPM_GGUF, "tokenizer/llama-spm/ggml-vocab-llama-spm.gguf"],
  ["llama-bpe", BPE_GGUF, "tokenizer/llama-bpe/ggml-vocab-llama-bpe.gguf"],
] as const) {
  test(`${label}: all 46 llama.cpp vectors`, async () => {
    const tok = await ggufTokenizer(gguf);
    const cases = llamaCppVectors(base);
    assert.equal(cases.length, 46);
    const failures: string[] = [];
    for (const c of cases) {
      const got = [...tok.encode(c.text, { addSpecial: false, parseSpecial: false })];
      if (JSON.stringify(got) !== JSON.stringify(c.ids)) failures.push(`${JSON.stringify(c.text)}: want ${c.ids} got ${got}`);
    }
    assert.deepEqual(failures, []);
  });

  test(`${label}: the vectors decode back to their text`, async () => {
    const tok = await ggufTokenizer(gguf);
    for (const c of llamaCppVectors(base)) assert.equal(tok.decode(c.ids), c.text);
  });
}

test("stories260K: all 51 llama-tokenize cases on the 512-token vocabulary", async () => {
  const tok = await ggufTokenizer(STORIES_GGUF);
  assert.equal(tok.vocabSize, 512);
  const { cases } = readJson<{ cases: { text: string; ids: number[] }[] }>("models/stories260K.tokenizer-cases.json");
  assert.equal(cases.length, 51);
  for (const c of cases) {
    assert.deepEqual([...tok.encode(c.text, { addSpecial: false })], c.ids, JSON.stringify(c.text));
    assert.equal(tok.decode(c.ids), c.text);
  }
});

test("stories260K: the prompt tokens of the reference generations (with BOS)", async () => {
  const tok = await ggufTokenizer(STORIES_GGUF);
  const expected = readJson("models/stories260K.expected.json");
  let checked = 0;
  const visit = (v: unknown): void => {
    if (Array.isArray(v)) return v.forEach(visit);
    if (typeof v !== "object" || v === null) return;
    const o = v as Record<string, unknown>;
    if (typeof o["prompt"] === "string" && Array.isArray(o["prompt_tokens"])) {
      assert.deepEqual([...tok.encode(o["prompt"] as string)], o["prompt_tokens"], o["prompt"] as string);
      checked++;
    }
    Object.values(o).forEach(visit);
  };
  visit(expected);
  assert.ok(checked >= 2, `found ${checked} prompts`);
});

test("stories260K: decoding the generated ids reproduces llama2.c's printed story", async () => {
  const tok = await ggufTokenizer(STORIES_GGUF);
  const { cases } = readJson<{ cases: { prompt_tokens: number[]; generated_tokens: number[]; stdout_text: string }[] }>("models/stories260K.expected.json");
  for (const c of cases) {
    // run.c drops BOS and the dummy-prefix space after it, which is decode without the BOS.
    const ids = [...c.prompt_tokens, ...c.generated_tokens];
    assert.equal(ids[0], tok.bos);
    assert.equal(tok.decode(ids.slice(1)), c.stdout_text);
  }
});

test("llama-2-tiny-random: the prompt llama.cpp tokenized (with BOS)", async () => {
  const tok = await ggufTokenizer("models/llama-2-tiny-random.gguf");
  const e = readJson<{ prompt: string; prompt_tokens: number[] }>("models/llama-2-tiny-random.expected.json");
  assert.deepEqual([...tok.encode(e.prompt)], e.prompt_tokens);
});
