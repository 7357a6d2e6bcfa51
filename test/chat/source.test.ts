import { test } from "node:test";
import assert from "node:assert/strict";
import { chatTemplateFromHf, chatTemplateFromMetadata, chatTemplateNames, endOfTurnPieces, hfSpecialToken } from "../../src/chat/source.ts";
import { ggufMetadata, readJson, BPE_GGUF, STORIES_GGUF } from "../tokenizer/fixtures.ts";

test("template from GGUF metadata (Llama 3 vocab GGUF has one, stories260K none)", async () => {
  const t = chatTemplateFromMetadata(await ggufMetadata(BPE_GGUF));
  assert.ok(t?.includes("<|start_header_id|>"));
  assert.equal(chatTemplateFromMetadata(await ggufMetadata(STORIES_GGUF)), undefined);
  const named = new Map<string, string | string[]>([["tokenizer.chat_template", "A"], ["tokenizer.chat_template.tool_use", "B"], ["tokenizer.chat_templates", ["tool_use"]]]);
  assert.equal(chatTemplateFromMetadata(named, "tool_use"), "B");
  assert.deepEqual(chatTemplateNames(named), ["tool_use"]);
});

test("template and special tokens from tokenizer_config.json; chat_template.jinja wins", () => {
  const config = readJson("tokenizer/llama3/tokenizer_config.json");
  assert.ok(chatTemplateFromHf(config)?.includes("<|eot_id|>"));
  assert.equal(chatTemplateFromHf(config, "FILE"), "FILE");
  assert.equal(hfSpecialToken(config, "bos_token"), "<|begin_of_text|>");
  assert.equal(chatTemplateFromHf({ chat_template: [{ name: "default", template: "D" }, { name: "rag", template: "R" }] }, undefined, "rag"), "R");
  assert.equal(hfSpecialToken({ eos_token: { content: "</s>", lstrip: false } }, "eos_token"), "</s>");
});

test("end-of-turn pieces: Llama 3 turns end in <|eot_id|> though eos is <|end_of_text|>", async () => {
  const t = chatTemplateFromMetadata(await ggufMetadata(BPE_GGUF));
  const pieces = endOfTurnPieces(t, "<|end_of_text|>");
  assert.ok(pieces.includes("<|eot_id|>") && pieces.includes("<|end_of_text|>"));
  assert.deepEqual(endOfTurnPieces("{{ '<|im_start|>' }}{{ '<|im_end|>' }}", "<|endoftext|>"), ["<|im_end|>", "<|endoftext|>"]);
});
