// Every JSON-schema–constrained generation through model.generate() parses and validates: the
// shared schema list × several seeds, on the shipped stories260K and on a random-weight model whose
// peaked logits want garbage at every step, so only the mask keeps the output valid.

import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { loadModel, type Model } from "../../src/index.ts";
import { syntheticLlama } from "../../src/format/synthetic.ts";
import { writeGguf } from "../../src/format/gguf.ts";
import { FileSink } from "../../src/node/file-sink.ts";
import { schemas } from "../sample/json-schemas.ts";
import { validate } from "../sample/json-validate.ts";

const STORIES = new URL("../../models/stories260K.gguf", import.meta.url).pathname;
const SEEDS = [1, 2, 3];
// room for the longest schema (nested) at one character per token, and for whitespace runs
const MAX_TOKENS = 300;

let dir: string;
let randomPath: string;

before(async () => {
  dir = mkdtempSync(join(tmpdir(), "llamats-schemas-"));
  randomPath = join(dir, "random.gguf");
  const sink = await FileSink.create(randomPath);
  // std 0.5: logits spread over several units, so the model strongly prefers arbitrary tokens
  await writeGguf(sink, syntheticLlama({ vocabSize: 512, dim: 64, layers: 2, heads: 4, ffn: 128, seed: 11, std: 0.5 }));
  await sink.close();
});

after(() => rmSync(dir, { recursive: true, force: true }));

async function checkAll(model: Model, prompt: string): Promise<void> {
  let runs = 0;
  for (const [name, schema] of Object.entries(schemas)) {
    for (const seed of SEEDS) {
      const gen = model.generate(prompt, { jsonSchema: schema, temperature: 1, seed, maxTokens: MAX_TOKENS });
      const text = await gen.text();
      assert.equal(gen.stats.finishReason, "stop", `${name} seed ${seed}: no end within ${MAX_TOKENS} tokens: ${text.slice(0, 200)}`);
      let value: unknown;
      assert.doesNotThrow(() => (value = JSON.parse(text)), `${name} seed ${seed}: ${text}`);
      assert.deepEqual(validate(value, schema as never), [], `${name} seed ${seed}: ${text}`);
      runs++;
    }
  }
  assert.ok(Object.keys(schemas).length >= 20);
  assert.equal(runs, Object.keys(schemas).length * SEEDS.length);
}

test("stories260K: every schema × 3 seeds yields valid JSON that validates", async () => {
  const model = await loadModel(STORIES, { contextSize: 512 });
  try {
    await checkAll(model, "Once upon a time");
  } finally {
    await model.dispose();
  }
});

test("random-weight model (512-token vocabulary): every schema × 3 seeds yields valid JSON that validates", async () => {
  const model = await loadModel(randomPath, { contextSize: 512 });
  try {
    // the mask has something to hold: unconstrained, this model does not write JSON
    const free = await model.generate("hello", { temperature: 1, seed: 1, maxTokens: 20 }).text();
    assert.throws(() => JSON.parse(free));
    await checkAll(model, "hello");
  } finally {
    await model.dispose();
  }
});
