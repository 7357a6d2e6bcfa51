// Meta's Llama 3 tokenizer tests, transformers.js's llama3 cases and belladore's llama3-tokenizer-js
// self-tests, each through both paths: the GGUF vocabulary and tokenizer.json. The two must agree.

import assert from "node:assert/strict";
import { test } from "node:test";
import { hfTokenizerToMetadata } from "../../src/format/hf-tokenizer.ts";
import { tokenizerFromMetadata } from "../../src/tokenizer/index.ts";
import type { Tokenizer } from "../../src/tokenizer/index.ts";
import { BPE_GGUF, ggufTokenizer, llama3FromTokenizerJson, llama3TokenizerJson, readJson } from "./fixtures.ts";

const paths: [string, () => Promise<Tokenizer>][] = [
  ["gguf", () => ggufTokenizer(BPE_GGUF)],
  ["tokenizer.json", llama3FromTokenizerJson],
];

interface Meta {
  special_tokens: Record<string, number>;
  encode: { text: string; bos: boolean; eos: boolean; ids: number[] }[];
  decode: { ids: number[]; text: string }[];
  encode_message: { message: { role: string; content: string }; ids: number[] }[];
  encode_dialog_prompt: { messages: { role: string; content: string }[]; ids: number[] }[];
}

/** Meta's ChatFormat, spelled with special tokens in text. */
function header(role: string): string {
  return `<|start_header_id|>${role}<|end_header_id|>\n\n`;
}

for (const [path, load] of paths) {
  test(`meta test vectors (${path})`, async () => {
    const tok = await load();
    const meta = readJson<Meta>("tokenizer/llama3/meta-test-vectors.json");
    for (const [text, id] of Object.entries(meta.special_tokens)) {
      assert.deepEqual([...tok.encode(text, { addSpecial: false, parseSpecial: true })], [id]);
    }
    for (const c of meta.encode) {
      const inner = [...tok.encode(c.text, { addSpecial: false })];
      const ids = [...(c.bos ? [tok.bos!] : []), ...inner, ...(c.eos ? [tok.eos!] : [])];
      assert.deepEqual(ids, c.ids);
      assert.equal(tok.addBos, true);
      assert.deepEqual([...tok.encode(c.text)], c.bos ? c.ids.slice(0, -1) : c.ids);
    }
    for (const c of meta.decode) assert.equal(tok.decode(c.ids), c.text);
    for (const c of meta.encode_message) {
      const text = header(c.message.role) + c.message.content.trim() + "<|eot_id|>";
      assert.deepEqual([...tok.encode(text, { addSpecial: false, parseSpecial: true })], c.ids);
    }
    for (const c of meta.encode_dialog_prompt) {
      const text = c.messages.map((m) => header(m.role) + m.content.trim() + "<|eot_id|>").join("") + header("assistant");
      assert.deepEqual([...tok.encode(text, { parseSpecial: true })], c.ids);
    }
  });

  test(`transformers.js llama3 cases (${path})`, async () => {
    const tok = await load();
    const all = readJson("tokenizer/transformersjs-llama-tokenizer-cases.json");
    let n = 0;
    for (const group of ["llama3_original_no_bos", "llama3_new_with_bos"]) {
      const withBos = group === "llama3_new_with_bos";
      for (const [name, c] of Object.entries<{ text: string; tokens: string[]; ids: number[]; decoded: string }>(all[group].cases)) {
        const ids = [...tok.encode(c.text, { addSpecial: withBos })];
        assert.deepEqual(ids, c.ids, `${group}/${name}`);
        const plain = [...tok.encode(c.text, { addSpecial: false })];
        assert.deepEqual(plain.map((id) => tok.tokenText(id)), c.tokens, `${group}/${name} pieces`);
        // transformers.js decodes with clean_up_tokenization_spaces, as llama.cpp's clean_spaces does.
        assert.equal(tok.decode(c.ids, { cleanSpaces: true }), c.decoded, `${group}/${name} decode`);
        assert.equal(tok.decode(c.ids, { skipSpecial: true }), c.text, `${group}/${name} raw decode`);
        n++;
      }
    }
    assert.equal(n, 74);
  });
}

/**
 * belladore's llama3-tokenizer-js carries the Llama 3.1 names for the special tokens, which differ
 * from Llama 3's only in 128002..128255. Rename them in tokenizer.json the way Meta did.
 */
function llama31Names(): string[] {
  const names: string[] = [];
  const fixed: Record<number, string> = {
    0: "<|begin_of_text|>", 1: "<|end_of_text|>", 2: "<|reserved_special_token_0|>", 3: "<|reserved_special_token_1|>",
    4: "<|finetune_right_pad_id|>", 5: "<|reserved_special_token_2|>", 6: "<|start_header_id|>", 7: "<|end_header_id|>",
    8: "<|eom_id|>", 9: "<|eot_id|>", 10: "<|python_tag|>",
  };
  for (let k = 0; k < 256; k++) names.push(fixed[k] ?? `<|reserved_special_token_${k - 8}|>`);
  return names;
}

test("belladore llama3-tokenizer-js cases (tokenizer.json with Llama 3.1 special names, and GGUF)", async () => {
  const { json, config } = llama3TokenizerJson();
  const names = llama31Names();
  for (const a of json.added_tokens) a.content = names[a.id - 128000];
  const tok31 = tokenizerFromMetadata(hfTokenizerToMetadata(json, config));
  const gguf = await ggufTokenizer(BPE_GGUF);
  const cases = readJson("tokenizer/belladore-tokenizer-js-cases.json").llama3 as
    ({ op: "encode"; text: string; bos: boolean; eos: boolean; ids: number[] } | { op: "decode"; ids: number[]; text: string })[];
  assert.equal(cases.length, 42);
  for (const c of cases) {
    if (c.op === "encode") {
      const ids = [...(c.bos ? [tok31.bos!] : []), ...tok31.encode(c.text, { addSpecial: false, parseSpecial: true }), ...(c.eos ? [tok31.eos!] : [])];
      assert.deepEqual(ids, c.ids, c.text);
      // Plain text (no special-token names in it) gives the same ids through the Llama 3 GGUF.
      if (!c.text.includes("<|")) assert.deepEqual([...gguf.encode(c.text, { addSpecial: false })], ids.filter((id) => id < 128000));
    } else {
      assert.equal(tok31.decode(c.ids), c.text);
    }
  }
  assert.equal(tok31.eom, 128008);
  assert.deepEqual([...tok31.eogIds].sort(), [128001, 128008, 128009]);
});

test("tokenizer.json maps to the same GGUF tokenizer keys llama.cpp's converter wrote", async () => {
  const { json, config } = llama3TokenizerJson();
  const mapped = hfTokenizerToMetadata(json, config);
  const { ggufMetadata } = await import("./fixtures.ts");
  const gguf = await ggufMetadata(BPE_GGUF);
  const keys = [...gguf.keys()].filter((k) => k.startsWith("tokenizer."));
  assert.ok(keys.length >= 8);
  for (const k of keys) assert.deepEqual(mapped.get(k), gguf.get(k), k);
  assert.deepEqual([...mapped.keys()].filter((k) => !gguf.has(k)), []);
});

test("Llama 3 special ids and end-of-generation set", async () => {
  for (const [, load] of paths) {
    const tok = await load();
    assert.equal(tok.vocabSize, 128256);
    assert.equal(tok.bos, 128000);
    assert.equal(tok.eos, 128001);
    assert.equal(tok.eot, 128009);
    assert.deepEqual([...tok.eogIds].sort(), [128001, 128009]);
    assert.ok(tok.chatTemplate?.includes("start_header_id"));
  }
});
