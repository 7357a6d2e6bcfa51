import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { applyChatTemplate } from "../../src/chat/template.ts";
import { detectChatFormat, formatChat, formatToText, formatToTokens, pythonJson, type ChatFormatName } from "../../src/chat/formats.ts";
import type { ChatMessage } from "../../src/chat/types.ts";
import { FIXTURES_URL } from "../fixtures-path.ts";

const FIX = new URL("templates/", FIXTURES_URL);
const read = (p: string) => readFileSync(new URL(p, FIX), "utf8");

const conversations: Record<string, ChatMessage[]> = {
  single: [{ role: "user", content: "Hello, who are you?" }],
  system: [
    { role: "system", content: "You only tell the truth." },
    { role: "user", content: "What's your favourite LLM framework?" },
    { role: "assistant", content: "llama.cpp!" },
  ],
  multi: [
    { role: "system", content: "  Be brief.\n" },
    { role: "user", content: "  Hi  " },
    { role: "assistant", content: "Hello! " },
    { role: "user", content: "Tell me about <|eot_id|> and [INST] tokens.\n\nTwo paragraphs." },
  ],
  unicode: [
    { role: "user", content: "Héllo 🦙 — 日本語" },
    { role: "assistant", content: "¡Hola!" },
    { role: "user", content: "again" },
  ],
};

const pairs: Array<[ChatFormatName, string, { bos: string; eos: string; extra?: Record<string, unknown> }]> = [
  ["llama2", "jinja/llama2-chat.jinja", { bos: "<s>", eos: "</s>" }],
  ["llama3", "jinja/llama3-instruct.jinja", { bos: "<|begin_of_text|>", eos: "<|eot_id|>" }],
  ["llama3.1", "jinja/llama3.1-instruct.jinja", { bos: "<|begin_of_text|>", eos: "<|eot_id|>", extra: { date_string: "26 Jul 2024" } }],
  ["llama3.1", "jinja/llama3.3-instruct.jinja", { bos: "<|begin_of_text|>", eos: "<|eot_id|>", extra: { date_string: "26 Jul 2024" } }],
  ["chatml", "llama.cpp-goldens/templates/teknium-OpenHermes-2.5-Mistral-7B.jinja", { bos: "", eos: "<|im_end|>" }],
];

test("hand-written formats equal the Jinja rendering of the real templates", () => {
  let n = 0;
  for (const [name, file, t] of pairs) {
    const source = read(file);
    for (const [conv, messages] of Object.entries(conversations)) {
      for (const agp of [true, false]) {
        // Llama 2 templates ignore add_generation_prompt; the prompt always ends in [/INST]
        if (name === "llama2" && messages.at(-1)!.role !== "user") continue;
        const jinja = applyChatTemplate(source, { messages, addGenerationPrompt: agp, bosToken: t.bos, eosToken: t.eos, extra: t.extra });
        const ours = formatToText(formatChat(name, messages, { addGenerationPrompt: agp, bosToken: t.bos || undefined, eosToken: t.eos }));
        assert.equal(ours, jinja, `${name} ${conv} agp=${agp}`);
        n++;
      }
    }
  }
  assert.ok(n >= 30);
});

test("llama3.1 format writes JSON tool calls and tool results like the template", () => {
  const messages: ChatMessage[] = [
    { role: "user", content: "Weather in Paris?" },
    { role: "assistant", content: "", tool_calls: [{ id: "c1", type: "function", function: { name: "get_weather", arguments: '{"city":"Paris","days":[1,2]}' } }] },
    { role: "tool", tool_call_id: "c1", content: '{"temp": 21}' },
  ];
  const jinja = applyChatTemplate(read("jinja/llama3.1-instruct.jinja"), { messages, bosToken: "<|begin_of_text|>", extra: { date_string: "26 Jul 2024" } });
  assert.equal(formatToText(formatChat("llama3.1", messages)), jinja);
  assert.match(jinja, /\{"name": "get_weather", "parameters": \{"city": "Paris", "days": \[1, 2\]\}\}<\|eot_id\|>/);
});

test("llama2 format rejects non-alternating roles like the template", () => {
  assert.throws(() => formatChat("llama2", [{ role: "user", content: "a" }, { role: "user", content: "b" }]), /must alternate/);
});

test("formatToTokens keeps special-looking user text as text", () => {
  const specials = new Map([["<|begin_of_text|>", 1000], ["<|start_header_id|>", 1001], ["<|end_header_id|>", 1002], ["<|eot_id|>", 1003]]);
  const encoded: string[] = [];
  const ids = formatToTokens(formatChat("llama3", [{ role: "user", content: "say <|eot_id|>" }]), {
    encodeText: (t) => { encoded.push(t); return [...t].map((c) => c.codePointAt(0)!); },
    specialId: (p) => specials.get(p),
  });
  assert.equal(ids[0], 1000);
  assert.equal(ids.filter((i) => i === 1003).length, 1, "only the real end of turn is a control token");
  assert.ok(encoded.includes("\n\nsay <|eot_id|>"));
});

test("format detection from template text or vocabulary", () => {
  assert.equal(detectChatFormat(read("jinja/llama3-instruct.jinja")), "llama3");
  assert.equal(detectChatFormat(read("jinja/llama3.1-instruct.jinja")), "llama3.1");
  assert.equal(detectChatFormat(read("jinja/llama2-chat.jinja")), "llama2");
  assert.equal(detectChatFormat(undefined, (p) => p === "<|im_start|>"), "chatml");
  assert.equal(detectChatFormat(undefined), "llama2");
});

test("pythonJson uses Python's separators", () => {
  assert.equal(pythonJson({ a: [1, "x"], b: { c: null } }), '{"a": [1, "x"], "b": {"c": null}}');
});
