import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { applyChatTemplate } from "../../src/chat/template.ts";
import { detectToolCallFormat, parseToolCalls, readJsonValue } from "../../src/chat/tool-calls.ts";
import type { ChatMessage, Tool } from "../../src/chat/types.ts";
import { FIXTURES_URL } from "../fixtures-path.ts";

const FIX = new URL("templates/", FIXTURES_URL);
const read = (p: string) => readFileSync(new URL(p, FIX), "utf8");
const ids = (i: number) => `call_${i}`;

const tools: Tool[] = [
  { type: "function", function: { name: "get_weather", description: "Weather for a city", parameters: { type: "object", properties: { city: { type: "string" } }, required: ["city"] } } },
  { type: "function", function: { name: "trending_songs", description: "Top songs", parameters: { type: "object", properties: { n: { type: "integer" } } } } },
];

test("formats detected from the fixture templates", () => {
  assert.equal(detectToolCallFormat(read("jinja/llama3.1-instruct.jinja")), "llama3");
  assert.equal(detectToolCallFormat(read("jinja/llama3.2-instruct.jinja")), "llama3");
  assert.equal(detectToolCallFormat(read("llama.cpp-goldens/templates/NousResearch-Hermes-2-Pro-Llama-3-8B-tool_use.jinja")), "hermes");
  assert.equal(detectToolCallFormat(read("llama.cpp-goldens/templates/Qwen-Qwen2.5-7B-Instruct.jinja")), "hermes");
  assert.equal(detectToolCallFormat(read("jinja/mistral-nemo-instruct-2407.jinja")), "mistral");
  assert.equal(detectToolCallFormat(read("jinja/llama2-chat.jinja")), undefined);
});

// The assistant turn a template writes for a tool call is what the model learned to produce:
// parsing it back must give the call we put in.
for (const [file, format] of [
  ["jinja/llama3.1-instruct.jinja", "llama3"],
  ["jinja/llama3.2-instruct.jinja", "llama3"],
  ["jinja/llama3.3-instruct.jinja", "llama3"],
  ["llama.cpp-goldens/templates/NousResearch-Hermes-2-Pro-Llama-3-8B-tool_use.jinja", "hermes"],
  ["llama.cpp-goldens/templates/Qwen-Qwen2.5-7B-Instruct.jinja", "hermes"],
] as const) {
  test(`round trip through ${file}`, () => {
    const call = { id: "call_0", type: "function" as const, function: { name: "get_weather", arguments: JSON.stringify({ city: "Paris", units: ["C", "F"], deep: { a: 1.5, b: null } }) } };
    const base: ChatMessage[] = [{ role: "user", content: "Weather?" }];
    const before = applyChatTemplate(read(file), { messages: base, tools, addGenerationPrompt: true, extra: { date_string: "26 Jul 2024" } });
    const after = applyChatTemplate(read(file), { messages: [...base, { role: "assistant", content: "", tool_calls: [call] }], tools, addGenerationPrompt: false, extra: { date_string: "26 Jul 2024" } });
    assert.ok(after.startsWith(before), "the tool-call turn extends the prompt");
    const reply = after.slice(before.length).replace(/(<\|eot_id\|>|<\|eom_id\|>|<\|im_end\|>)\s*$/, "");
    const parsed = parseToolCalls(reply, format, { tools, makeId: ids });
    assert.equal(parsed.toolCalls.length, 1, reply);
    assert.deepEqual(JSON.parse(parsed.toolCalls[0]!.function.arguments), JSON.parse(call.function.arguments));
    assert.equal(parsed.toolCalls[0]!.function.name, "get_weather");
    assert.equal(parsed.content, null);
  });
}

test("Llama 3.1 reply shapes from Meta's prompt-format document", () => {
  const json = parseToolCalls('<|python_tag|>{\n    "type": "function",\n    "name": "trending_songs",\n    "parameters": {\n        "n": "10",\n        "genre": "all"\n    }\n}', "llama3", { makeId: ids });
  assert.deepEqual(json.toolCalls, [{ id: "call_0", type: "function", function: { name: "trending_songs", arguments: '{"n":"10","genre":"all"}' } }]);
  const builtin = parseToolCalls('<|python_tag|>brave_search.call(query="latest price of 1oz gold")', "llama3", { makeId: ids });
  assert.deepEqual(builtin.toolCalls[0]!.function, { name: "brave_search", arguments: '{"query":"latest price of 1oz gold"}' });
  const tags = parseToolCalls('<function=trending_songs>{"n": 10}</function>', "llama3", { makeId: ids });
  assert.deepEqual(tags.toolCalls[0]!.function, { name: "trending_songs", arguments: '{"n":10}' });
  const code = parseToolCalls("<|python_tag|>print(is_prime(7))", "llama3", { makeId: ids });
  assert.deepEqual(code.toolCalls[0]!.function, { name: "python", arguments: '{"code":"print(is_prime(7))"}' });
  const two = parseToolCalls('{"name": "get_weather", "parameters": {"city": "A"}}; {"name": "get_weather", "parameters": {"city": "B"}}', "llama3", { tools, makeId: ids });
  assert.equal(two.toolCalls.length, 2);
});

test("plain text, unknown tools and broken JSON stay content", () => {
  assert.deepEqual(parseToolCalls("The weather is nice.", "llama3"), { content: "The weather is nice.", toolCalls: [] });
  assert.equal(parseToolCalls('{"name": "rm_rf", "parameters": {}}', "llama3", { tools }).toolCalls.length, 0);
  assert.equal(parseToolCalls('{"name": "get_weather", "parameters": {"city": "Pa', "llama3", { tools }).toolCalls.length, 0);
  assert.equal(parseToolCalls('{"answer": 42}', "llama3").toolCalls.length, 0);
});

test("Hermes: several calls with text around, unclosed last tag", () => {
  const r = parseToolCalls('Let me check.\n<tool_call>\n{"name": "get_weather", "arguments": {"city": "Oslo"}}\n</tool_call>\n<tool_call>\n{"name": "trending_songs", "arguments": {"n": 3}}', "hermes", { makeId: ids });
  assert.equal(r.content, "Let me check.\n\n");
  assert.deepEqual(r.toolCalls.map((c) => c.function.name), ["get_weather", "trending_songs"]);
});

test("Mistral [TOOL_CALLS] array keeps the model's ids", () => {
  const r = parseToolCalls('[TOOL_CALLS][{"name": "get_weather", "arguments": {"city": "Rome"}, "id": "abc123XYZ"}]', undefined);
  assert.deepEqual(r, { content: null, toolCalls: [{ id: "abc123XYZ", type: "function", function: { name: "get_weather", arguments: '{"city":"Rome"}' } }] });
});

test("readJsonValue skips brackets inside strings", () => {
  assert.deepEqual(readJsonValue(' {"a": "}]{", "b": [1]} tail', 0), { value: { a: "}]{", b: [1] }, end: 23 });
});
