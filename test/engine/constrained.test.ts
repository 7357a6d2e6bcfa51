// Grammar- and schema-constrained generation through the library API on the shipped model.

import { test } from "node:test";
import assert from "node:assert/strict";
import { loadModel, UserError } from "../../src/index.ts";

const MODEL = new URL("../../models/stories260K.gguf", import.meta.url).pathname;

test("jsonSchema constrains sampled output to valid JSON of that shape", async () => {
  const model = await loadModel(MODEL, { contextSize: 256 });
  try {
    const schema = { type: "object", properties: { name: { type: "string", maxLength: 12 }, happy: { type: "boolean" } }, required: ["name", "happy"] };
    for (const seed of [1, 2, 3]) {
      const gen = model.generate("Once upon a time", { jsonSchema: schema, temperature: 0.9, seed, maxTokens: 120 });
      const text = await gen.text();
      assert.equal(gen.stats.finishReason, "stop", `seed ${seed}: ${text}`);
      const value = JSON.parse(text);
      assert.equal(typeof value.name, "string");
      assert.equal(typeof value.happy, "boolean");
    }
  } finally {
    await model.dispose();
  }
});

test("a GBNF grammar restricts the text to its language", async () => {
  const model = await loadModel(MODEL, { contextSize: 256 });
  try {
    const text = await model.generate("Once upon a time", { grammar: 'root ::= ("yes" | "no") "."', temperature: 1, seed: 5, maxTokens: 20 }).text();
    assert.match(text, /^(yes|no)\.$/);
    await assert.rejects(model.generate("x", { grammar: "root ::= (" }).text(), UserError);
  } finally {
    await model.dispose();
  }
});
