// The pre-tokenizer regexes, checked on strings whose splits are known from llama.cpp / HF.

import assert from "node:assert/strict";
import { test } from "node:test";
import { PreTokenizer, preTokenizerNames } from "../../src/tokenizer/pretokenize.ts";

test("llama-bpe (Llama 3) splits", () => {
  const p = new PreTokenizer("llama-bpe");
  assert.deepEqual(p.words("Hello world123456 it's"), ["Hello", " world", "123", "456", " it", "'s"]);
  assert.deepEqual(p.words("I'LL  go!!\n\n\tok"), ["I", "'LL", " ", " go", "!!\n\n", "\tok"]);
  assert.deepEqual(p.words("   a"), ["  ", " a"]);
  assert.deepEqual(p.words("中文 😀x"), ["中文", " 😀", "x"]);
  // Unicode White_Space, not JavaScript's \s: U+0085 is space, U+FEFF is not.
  assert.deepEqual(p.words("a\u0085\u0085b"), ["a", "\u0085", "\u0085b"]);
  assert.deepEqual(p.words("a\ufeffb"), ["a", "\ufeffb"]);
});

test("gpt-2 splits", () => {
  const p = new PreTokenizer("gpt-2");
  assert.deepEqual(p.words("Hello  world's 12345"), ["Hello", " ", " world", "'s", " 12345"]);
});

test("qwen2 splits digits one by one", () => {
  const p = new PreTokenizer("qwen2");
  assert.deepEqual(p.words("x 2024"), ["x", " ", "2", "0", "2", "4"]);
});

test("default and deepseek-llm apply their regexes one after another and keep unmatched text", () => {
  assert.deepEqual(new PreTokenizer("default").words("a,b 1234"), ["a", ",", "b", " ", "123", "4"]);
  assert.deepEqual(new PreTokenizer("deepseek-llm").words("Hi 你好\n12"), ["Hi", " ", "你好", "\n", "12"]);
  for (const name of preTokenizerNames()) {
    const text = "Mixed: 12345 words, ÉTÉ 中文\n\n  🦙!";
    assert.equal(new PreTokenizer(name).words(text).join(""), text, name);
  }
});
