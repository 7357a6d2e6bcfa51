// model.chat(): messages through the fallback Llama 2 format (stories260K has no template) and
// through a ChatML template with tools written into the GGUF; streamed deltas against the
// non-streaming result and against generate(); logprobs, stop strings, abort, KV reuse across
// turns, response_format and grammar-forced tool calls.

import { before, after, test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { loadModel, readGguf, BytesSource, UserError, type ChatDelta, type Model, type Tool } from "../../src/index.ts";
import { MemorySink, ggufWriteInputOf, writeGguf } from "../../src/format/gguf.ts";
import { chatPromptTokens } from "../../src/engine/chat-prompt.ts";
import { validate } from "../sample/json-validate.ts";

const MODEL = new URL("../../models/stories260K.gguf", import.meta.url).pathname;

const TEMPLATE =
  "{%- if tools %}<|im_start|>system\nYou may call functions. Put each call in <tool_call></tool_call> tags as " +
  '{"name": ..., "arguments": ...}. Functions: {{ tools | tojson }}<|im_end|>\n{% endif %}' +
  "{%- for m in messages %}<|im_start|>{{ m.role }}\n{{ m.content }}<|im_end|>\n{% endfor %}" +
  "{%- if add_generation_prompt %}<|im_start|>assistant\n{% endif %}";

const TOOLS: Tool[] = [
  {
    type: "function",
    function: {
      name: "get_weather",
      description: "Current weather of a city",
      parameters: { type: "object", properties: { city: { type: "string", maxLength: 12 } }, required: ["city"] },
    },
  },
  {
    type: "function",
    function: {
      name: "add",
      parameters: { type: "object", properties: { a: { type: "integer" }, b: { type: "integer" } }, required: ["a", "b"] },
    },
  },
];

let plain: Model;
let templated: Model;

before(async () => {
  plain = await loadModel(MODEL, { contextSize: 1024 });
  const input = ggufWriteInputOf(await readGguf(new BytesSource(readFileSync(MODEL))));
  const sink = new MemorySink();
  await writeGguf(sink, { ...input, metadata: new Map(input.metadata).set("tokenizer.chat_template", TEMPLATE) });
  templated = await loadModel(new BytesSource(sink.bytes()), { contextSize: 1024 });
});

after(async () => {
  await plain.dispose();
  await templated.dispose();
});

async function collect(stream: AsyncIterable<ChatDelta>): Promise<ChatDelta[]> {
  const out: ChatDelta[] = [];
  for await (const d of stream) out.push(d);
  return out;
}

const user = (content: string) => ({ role: "user", content });

test("fallback format: the Llama 2 layout, streamed deltas = result() = generate() on the same tokens", async () => {
  assert.equal(plain.chatSetup.template, undefined);
  assert.equal(plain.chatSetup.fallback, "llama2");
  const messages = [{ role: "system", content: "Be kind." }, user("Hi"), { role: "assistant", content: "Hello" }, user("Tell me a story.")];
  const deltas = await collect(plain.chat(messages, { temperature: 0, maxTokens: 24 }));
  const last = deltas.at(-1)!;
  assert.equal(last.finishReason, "length");
  assert.equal(last.usage!.completionTokens, 24);
  assert.ok(deltas.slice(0, -1).every((d) => d.finishReason === undefined && d.usage === undefined && typeof d.content === "string"));
  const streamed = deltas.map((d) => d.content ?? "").join("");
  assert.ok(streamed.length > 10);

  const r = await plain.chat(messages, { temperature: 0, maxTokens: 24 }).result();
  assert.equal(r.message.role, "assistant");
  assert.equal(r.message.content, streamed);
  assert.equal(r.finishReason, "length");
  assert.deepEqual(r.usage.promptTokens, last.usage!.promptTokens);
  assert.equal(r.usage.totalTokens, r.usage.promptTokens + 24);
  // the same prompt again: all but the last prompt token come from the KV cache
  assert.equal(r.usage.cachedTokens, r.usage.promptTokens - 1);

  // the prompt is Meta's Llama 2 chat layout, built segment by segment
  const prompt = chatPromptTokens(plain, plain.chatSetup, messages, undefined);
  assert.equal(r.usage.promptTokens, prompt.length);
  assert.equal(prompt[0], plain.tokenizer.bos);
  assert.match(plain.detokenize(prompt), /^<s>\s*\[INST\] <<SYS>>\nBe kind\.\n<<\/SYS>>\n\nHi \[\/INST\]\s+Hello\s*<\/s><s>\s*\[INST\] Tell me a story\. \[\/INST\]$/);
  assert.equal(await plain.generate(prompt, { temperature: 0, maxTokens: 24 }).text(), streamed);
});

test("a second turn reuses the first turn's KV cache", async () => {
  const first = await plain.chat([user("Where is the cat?")], { temperature: 0, maxTokens: 8 }).result();
  const second = await plain.chat(
    [user("Where is the cat?"), { role: "assistant", content: first.message.content }, user("And the dog?")],
    { temperature: 0, maxTokens: 8 },
  ).result();
  assert.ok(second.usage.cachedTokens >= first.usage.promptTokens, `${second.usage.cachedTokens} cached of ${first.usage.promptTokens}`);
  assert.ok(second.usage.promptTokens > first.usage.promptTokens + 5);
});

test("logprobs: one per generated token, with the top alternatives; streamed and whole agree", async () => {
  const opts = { temperature: 0.8, seed: 3, maxTokens: 12, logprobs: true, topLogprobs: 3 };
  const deltas = await collect(plain.chat([user("Hello")], opts));
  const streamed = deltas.flatMap((d) => d.logprobs ?? []);
  const r = await plain.chat([user("Hello")], opts).result();
  assert.equal(r.logprobs!.length, r.usage.completionTokens);
  // the second run reuses the prompt's KV cells, evaluated in one batch the first time: the same
  // tokens, logprobs equal up to rounding
  assert.deepEqual(streamed.map((lp) => lp.token), r.logprobs!.map((lp) => lp.token));
  streamed.forEach((lp, i) => assert.ok(Math.abs(lp.logprob - r.logprobs![i]!.logprob) < 1e-3));
  for (const lp of r.logprobs!) {
    assert.ok(lp.logprob <= 0);
    assert.equal(lp.top.length, 3);
    assert.ok(lp.top[0]!.logprob >= lp.top[1]!.logprob && lp.top[1]!.logprob >= lp.top[2]!.logprob);
    assert.ok(lp.top[0]!.logprob >= lp.logprob);
  }
  // greedy picks are the top choice
  const greedy = await plain.chat([user("Hello")], { temperature: 0, maxTokens: 6, logprobs: true }).result();
  for (const lp of greedy.logprobs!) assert.equal(lp.top.length, 0);
  const g2 = await plain.chat([user("Hello")], { temperature: 0, maxTokens: 6, logprobs: true, topLogprobs: 1 }).result();
  for (const lp of g2.logprobs!) assert.equal(lp.top[0]!.token, lp.token);
  assert.equal((await plain.chat([user("Hello")], { maxTokens: 2 }).result()).logprobs, undefined);
  await assert.rejects(plain.chat([user("Hello")], { logprobs: true, topLogprobs: 21 }).result(), UserError);
});

test("stop strings end the reply before them; sampler options are honoured", async () => {
  const full = (await plain.chat([user("Tell me a story.")], { temperature: 0, maxTokens: 40 }).result()).message.content!;
  const word = full.trim().split(/\s+/)[3]!;
  const r = await plain.chat([user("Tell me a story.")], { temperature: 0, maxTokens: 40, stop: [word] }).result();
  assert.equal(r.finishReason, "stop");
  assert.equal(r.message.content, full.slice(0, full.indexOf(word)));
  // a ban on the greedy first token changes the reply
  const first = plain.tokenize(full, { addSpecial: false })[0]!;
  const banned = await plain.chat([user("Tell me a story.")], { temperature: 0, maxTokens: 40, logitBias: { [first]: -Infinity } }).result();
  assert.notEqual(banned.message.content!.slice(0, 8), full.slice(0, 8));
  // seeded sampling is reproducible
  const a = await plain.chat([user("Hi")], { temperature: 1, topK: 0, topP: 1, minP: 0, seed: 9, maxTokens: 20 }).result();
  const b = await plain.chat([user("Hi")], { temperature: 1, topK: 0, topP: 1, minP: 0, seed: 9, maxTokens: 20 }).result();
  assert.equal(a.message.content, b.message.content);
});

test("abort ends the stream with finishReason abort and leaves the model usable", async () => {
  const ac = new AbortController();
  const deltas: ChatDelta[] = [];
  for await (const d of plain.chat([user("Tell me a long story.")], { temperature: 0, maxTokens: 200, signal: ac.signal })) {
    deltas.push(d);
    if (deltas.length === 3) ac.abort();
  }
  const last = deltas.at(-1)!;
  assert.equal(last.finishReason, "abort");
  assert.ok(last.usage!.completionTokens < 10);
  const r = await plain.chat([user("Tell me a long story.")], { temperature: 0, maxTokens: 5 }).result();
  assert.equal(r.finishReason, "length");
  assert.equal(r.usage.completionTokens, 5);
});

test("generate() stopTokens end like end-of-generation", async () => {
  const ref = plain.generate("Once upon a time", { temperature: 0, maxTokens: 12 });
  await ref.text();
  const tokens = ref.stats.generatedTokens;
  const at = 5;
  const firstAt = tokens.indexOf(tokens[at]!);
  const gen = plain.generate("Once upon a time", { temperature: 0, maxTokens: 12, stopTokens: [tokens[at]!] });
  await gen.text();
  assert.equal(gen.stats.finishReason, "stop");
  assert.deepEqual(gen.stats.generatedTokens, tokens.slice(0, firstAt));
});

test("responseFormat json_schema: the reply parses and validates", async () => {
  const schema = { type: "object", properties: { name: { type: "string", maxLength: 10 }, age: { type: "integer" } }, required: ["name", "age"] };
  for (const seed of [1, 2]) {
    const r = await plain.chat([user("Who are you?")], { responseFormat: { type: "json_schema", json_schema: { name: "person", schema } }, temperature: 1, seed, maxTokens: 100 }).result();
    assert.equal(r.finishReason, "stop", r.message.content!);
    assert.deepEqual(validate(JSON.parse(r.message.content!), schema), []);
  }
  const any = await plain.chat([user("Hi")], { responseFormat: { type: "json_object" }, temperature: 1, seed: 4, maxTokens: 200 }).result();
  if (any.finishReason === "stop") assert.equal(typeof JSON.parse(any.message.content!), "object");
  else assert.match(any.message.content!, /^\s*\{/);
});

test("template path: the GGUF's template renders the tools; the tiny model answers in text", async () => {
  const setup = templated.chatSetup;
  assert.equal(setup.template, TEMPLATE);
  assert.equal(setup.toolFormat, "hermes");
  // <|im_end|> is not a token of this vocabulary: it stops as a string
  assert.deepEqual(setup.stopStrings, ["<|im_end|>"]);
  const withTools = await templated.chat([user("Weather in Paris?")], { tools: TOOLS, temperature: 0, maxTokens: 6 }).result();
  const none = await templated.chat([user("Weather in Paris?")], { tools: TOOLS, toolChoice: "none", temperature: 0, maxTokens: 6 }).result();
  const noTools = await templated.chat([user("Weather in Paris?")], { temperature: 0, maxTokens: 6 }).result();
  assert.ok(withTools.usage.promptTokens > noTools.usage.promptTokens + 50);
  assert.equal(none.usage.promptTokens, noTools.usage.promptTokens);
  assert.equal(withTools.message.toolCalls, undefined);
  assert.equal(typeof withTools.message.content, "string");
  assert.equal(withTools.finishReason, "length");
  // the rendered prompt is the template's text
  const text = "<|im_start|>user\nWeather in Paris?<|im_end|>\n<|im_start|>assistant\n";
  assert.equal(noTools.usage.promptTokens, templated.tokenize(text, { parseSpecial: true }).length);
});

test("toolChoice required: a grammar-forced call comes back as toolCalls, never as content, streamed or whole", async () => {
  for (const seed of [1, 2, 3]) {
    const deltas = await collect(templated.chat([user("Weather in Paris?")], { tools: TOOLS.slice(0, 1), toolChoice: "required", temperature: 1, seed, maxTokens: 120 }));
    const content = deltas.map((d) => d.content ?? "").join("");
    assert.equal(content, "", `seed ${seed}: call text leaked as content: ${content}`);
    const last = deltas.at(-1)!;
    assert.equal(last.finishReason, "tool_calls");
    assert.equal(last.toolCalls!.length, 1);
    const call = last.toolCalls![0]!;
    assert.equal(call.type, "function");
    assert.equal(call.function.name, "get_weather");
    assert.match(call.id, /^call_/);
    const args = JSON.parse(call.function.arguments);
    assert.deepEqual(validate(args, TOOLS[0]!.function.parameters!), []);
  }
  const r = await templated.chat([user("Add 2 and 3")], { tools: TOOLS, toolChoice: { type: "function", function: { name: "add" } }, temperature: 1, seed: 5, maxTokens: 120 }).result();
  assert.equal(r.finishReason, "tool_calls");
  assert.equal(r.message.content, null);
  assert.equal(r.message.toolCalls![0]!.function.name, "add");
  assert.deepEqual(validate(JSON.parse(r.message.toolCalls![0]!.function.arguments), TOOLS[1]!.function.parameters!), []);
});

test("toolChoice errors are UserErrors", async () => {
  await assert.rejects(templated.chat([user("x")], { toolChoice: "required" }).result(), UserError);
  await assert.rejects(templated.chat([user("x")], { tools: TOOLS, toolChoice: { type: "function", function: { name: "nope" } } }).result(), /'nope', which is not in tools/);
});
