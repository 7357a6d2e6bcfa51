import { test } from "node:test";
import assert from "node:assert/strict";
import { compileGrammar, parseGbnf, GrammarError } from "../../src/sample/grammar/gbnf.ts";
import { GrammarMatcher } from "../../src/sample/grammar/matcher.ts";
import { createGrammarConstraint, type GrammarVocab } from "../../src/sample/grammar/constraint.ts";
import { jsonSchemaToGbnf, jsonObjectGbnf } from "../../src/sample/grammar/json-schema.ts";
import { createSampler } from "../../src/sample/sampler.ts";
import { ggufTokenizer, STORIES_GGUF, BPE_GGUF } from "../tokenizer/fixtures.ts";
import { validate } from "./json-validate.ts";
import { schemas } from "./json-schemas.ts";

const matcher = (g: string) => new GrammarMatcher(compileGrammar(parseGbnf(g)));
const accepts = (m: GrammarMatcher, text: string) => m.isAccepting(m.advanceText(m.initial, text));

test("GBNF: literals, classes, groups, repetition, comments, multi-line alternatives", () => {
  const m = matcher(`
    # arithmetic
    root  ::= expr
    expr  ::= term (("+" | "-") term)*
    term  ::= num | "(" expr ")"
    num   ::= [1-9] [0-9]{0,2} | "0"
          | "x"
  `);
  for (const ok of ["1", "12+3", "(1+2)-300", "0", "x+x"]) assert.ok(accepts(m, ok), ok);
  for (const bad of ["", "1+", "1234", "01", "(1", "y"]) assert.ok(!accepts(m, bad), bad);
  const esc = matcher('root ::= "\\"" [^"\\\\\\n]+ "\\"" "\\u00e9"? [\\x41-\\x43]');
  assert.ok(accepts(esc, '"héllo"éB'));
  assert.ok(!accepts(esc, '"a"D'));
  const rep = matcher('root ::= "a"{2,3} "b"{2} "c"{1,} .?');
  assert.ok(accepts(rep, "aabbc") && accepts(rep, "aaabbccc🦙"));
  assert.ok(!accepts(rep, "abbc") && !accepts(rep, "aaaabbc") && !accepts(rep, "aabc"));
  assert.throws(() => parseGbnf('root ::= foo'), GrammarError);
  assert.throws(() => parseGbnf('expr ::= "a"'), /no root/);
  assert.throws(() => matcher('root ::= root "a" | "b"'), /left recursion/);
});

test("compiled schemas accept valid and reject invalid documents", () => {
  const m = matcher(jsonSchemaToGbnf(schemas.nested));
  assert.ok(accepts(m, '{"user": {"id": -12, "tags": ["ab", "c"]}, "ok": true}'));
  assert.ok(accepts(m, '{\n  "user":{"id":0,"tags":[]},\n  "ok":false}'));
  assert.ok(!accepts(m, '{"ok": true, "user": {"id": 1, "tags": []}}'), "properties in schema order");
  assert.ok(!accepts(m, '{"user": {"id": 1.5, "tags": []}, "ok": true}'));
  assert.ok(!accepts(m, '{"user": {"id": 1, "tags": ["abcd"]}, "ok": true}'));
  const any = matcher(jsonObjectGbnf());
  assert.ok(accepts(any, '{"a": [1, 2.5e-3, "x\\n\\u00e9", {"b": null}], "c": true}'));
  assert.ok(!accepts(any, '[1]') && !accepts(any, '{"a": 01}') && !accepts(any, '{"a" 1}'));
  // extra keys are free strings, so this one is checked here rather than by random generation
  const extra = matcher(jsonSchemaToGbnf({ type: "object", properties: { id: { type: "integer" } }, required: ["id"], additionalProperties: { type: "boolean" } }));
  assert.ok(accepts(extra, '{"id": 1, "x": true, "y": false}'));
  assert.ok(!accepts(extra, '{"id": 1, "x": 2}') && !accepts(extra, '{"x": true}'));
  const closed = matcher(jsonSchemaToGbnf(schemas.flatObject));
  assert.ok(!accepts(closed, '{"name": "a", "age": 1, "x": 1}'), "no additionalProperties: no other keys");
  assert.throws(() => jsonSchemaToGbnf({ type: "string", pattern: "^a$" }), /pattern/);
  assert.throws(() => jsonSchemaToGbnf({ $ref: "#/$defs/nope" }), /points nowhere/);
});

// Random logits are a model that wants garbage: every step the mask alone keeps the output valid.
async function generate(vocab: GrammarVocab & { decode(ids: ArrayLike<number>): string }, gbnf: string, seed: number, maxTokens: number) {
  const constraint = createGrammarConstraint(gbnf, vocab);
  const sampler = createSampler({ seed, temperature: 1, topK: 0, topP: 1, minP: 0, constraint });
  const logits = new Float32Array(vocab.vocabSize);
  let s = seed * 2654435761 >>> 0;
  const ids: number[] = [];
  for (let step = 0; step < maxTokens; step++) {
    for (let i = 0; i < logits.length; i++) {
      s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
      logits[i] = (s / 4294967296) * 6;
    }
    const t = sampler.sample(logits, ids);
    if (vocab.isEog(t)) return { text: vocab.decode(ids), ended: true, ids };
    sampler.accept(t);
    ids.push(t);
  }
  return { text: vocab.decode(ids), ended: false, ids };
}

for (const [label, file, seeds, maxTokens] of [
  ["stories260K (512-token SPM vocab)", STORIES_GGUF, [1, 2, 3], 400],
  ["Llama 3 (128k BPE vocab)", BPE_GGUF, [1], 300],
] as const) {
  test(`random-logit generation through the mask always yields valid JSON: ${label}`, async () => {
    const tok = await ggufTokenizer(file);
    const vocab = {
      vocabSize: tok.vocabSize,
      pieceBytes: (id: number, o?: { skipSpecial?: boolean }) => tok.pieceBytes(id, o),
      isEog: (id: number) => tok.isEog(id),
      decode: (ids: ArrayLike<number>) => tok.decode(ids),
    };
    let runs = 0;
    for (const [name, schema] of Object.entries(schemas)) {
      const gbnf = jsonSchemaToGbnf(schema);
      for (const seed of seeds) {
        const r = await generate(vocab, gbnf, seed, maxTokens);
        assert.ok(r.ended, `${name} seed ${seed}: no end within ${maxTokens} tokens: ${r.text.slice(0, 200)}`);
        let value: unknown;
        assert.doesNotThrow(() => (value = JSON.parse(r.text)), `${name} seed ${seed}: ${r.text}`);
        assert.deepEqual(validate(value, schema as any), [], `${name} seed ${seed}: ${r.text}`);
        runs++;
      }
    }
    assert.equal(runs, Object.keys(schemas).length * seeds.length);
    assert.ok(Object.keys(schemas).length >= 20);
  });
}
