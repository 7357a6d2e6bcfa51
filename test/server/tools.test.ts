// Tools: a model whose GGUF carries a Hermes-style chat template (stories260K with the template
// added through the GGUF writer) gets the tools rendered into its prompt; replies that contain
// `<tool_call>` come back as OpenAI tool_calls with finish_reason "tool_calls", whole and
// streamed. The tiny model never writes a call on its own, so the parsing path runs on a
// scripted scheduler in front of the same handler.

import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import OpenAI from "openai";
import { readGguf, BytesSource } from "../../src/index.ts";
import { MemorySink, ggufWriteInputOf, writeGguf } from "../../src/format/gguf.ts";
import type { JobEvent, CompletionRequest, Scheduler } from "../../src/engine/scheduler.ts";
import { createServer } from "../../src/server/index.ts";
import { chatSetup } from "../../src/engine/chat-prompt.ts";
import { serveFetch, type RunningServer } from "../../src/node/http-server.ts";
import type { ServingModel } from "../../src/node/http-llama.ts";
import { MODEL, startServer } from "./helpers.ts";

const TEMPLATE =
  "{%- if tools %}<|im_start|>system\nYou may call functions. Put each call in <tool_call></tool_call> tags as " +
  '{"name": ..., "arguments": ...}. Functions: {{ tools | tojson }}<|im_end|>\n{% endif %}' +
  "{%- for m in messages %}<|im_start|>{{ m.role }}\n{{ m.content }}<|im_end|>\n{% endfor %}" +
  "{%- if add_generation_prompt %}<|im_start|>assistant\n{% endif %}";

const TOOLS: OpenAI.Chat.Completions.ChatCompletionTool[] = [
  {
    type: "function",
    function: {
      name: "get_weather",
      description: "Current weather of a city",
      parameters: { type: "object", properties: { city: { type: "string", maxLength: 12 } }, required: ["city"] },
    },
  },
];

let dir: string;
let server: ServingModel;
let client: OpenAI;

before(async () => {
  dir = mkdtempSync(join(tmpdir(), "llamats-tools-"));
  const file = await readGguf(new BytesSource(readFileSync(MODEL)));
  const input = ggufWriteInputOf(file);
  const sink = new MemorySink();
  await writeGguf(sink, { ...input, metadata: new Map(input.metadata).set("tokenizer.chat_template", TEMPLATE) });
  const path = join(dir, "stories-tools.gguf");
  writeFileSync(path, sink.bytes());
  server = await startServer({ model: path, alias: "m", parallel: 2, contextSize: 1024 });
  client = new OpenAI({ baseURL: server.url + "/v1", apiKey: "x", maxRetries: 0 });
});

after(async () => {
  await server.close();
  rmSync(dir, { recursive: true, force: true });
});

test("the template from the GGUF renders the tools into the prompt; tool_choice none leaves them out", async () => {
  const setup = chatSetup(server.server.engine!.model);
  assert.equal(setup.template, TEMPLATE);
  assert.equal(setup.toolFormat, "hermes");
  const messages = [{ role: "user" as const, content: "Weather in Paris?" }];
  const withTools = await client.chat.completions.create({ model: "m", messages, tools: TOOLS, max_tokens: 4, temperature: 0 });
  const without = await client.chat.completions.create({ model: "m", messages, tools: TOOLS, tool_choice: "none", max_tokens: 4, temperature: 0 });
  const plain = await client.chat.completions.create({ model: "m", messages, max_tokens: 4, temperature: 0 });
  assert.ok(withTools.usage!.prompt_tokens > plain.usage!.prompt_tokens + 20);
  assert.equal(without.usage!.prompt_tokens, plain.usage!.prompt_tokens);
  // the model writes no call: a normal reply
  assert.equal(withTools.choices[0]!.message.tool_calls, undefined);
  assert.equal(withTools.choices[0]!.finish_reason, "length");
});

// --- the parsing path, on a scripted scheduler ---

function scripted(pieces: string[], seen: CompletionRequest[]): Scheduler {
  return {
    parallel: 2,
    slotContext: 512,
    complete(req: CompletionRequest): AsyncIterable<JobEvent> {
      seen.push(req);
      return (async function* (): AsyncGenerator<JobEvent> {
        yield { type: "started", promptTokens: req.prompt.length, cachedTokens: 0 };
        for (const [i, text] of pieces.entries()) yield { type: "token", choice: 0, token: 300 + i, text };
        yield { type: "done", choice: 0, finishReason: "stop", text: "", generatedTokens: pieces.length };
      })();
    },
  } as unknown as Scheduler;
}

async function withScript(pieces: string[], fn: (client: OpenAI) => Promise<void>): Promise<CompletionRequest[]> {
  const real = server.server.engine!;
  const seen: CompletionRequest[] = [];
  const app = createServer({ modelId: "m" });
  app.ready({ ...real, scheduler: scripted(pieces, seen) });
  const http: RunningServer = await serveFetch(app.fetch, { port: 0 });
  try {
    await fn(new OpenAI({ baseURL: http.url + "/v1", apiKey: "x", maxRetries: 0 }));
  } finally {
    await http.close();
  }
  return seen;
}

const CALL = ["Let me check. ", "<tool", '_call>{"name": "get_', 'weather", "arguments": {"city": "Par', 'is"}}</tool_call>'];

test("a reply with <tool_call> becomes tool_calls with finish_reason tool_calls", async () => {
  await withScript(CALL, async (c) => {
    const r = await c.chat.completions.create({ model: "m", messages: [{ role: "user", content: "Weather?" }], tools: TOOLS });
    const ch = r.choices[0]!;
    assert.equal(ch.finish_reason, "tool_calls");
    assert.equal(ch.message.tool_calls!.length, 1);
    const call = ch.message.tool_calls![0]! as OpenAI.Chat.Completions.ChatCompletionMessageFunctionToolCall;
    assert.equal(call.type, "function");
    assert.equal(call.function.name, "get_weather");
    assert.deepEqual(JSON.parse(call.function.arguments), { city: "Paris" });
    assert.match(call.id, /^call_/);
    assert.equal(ch.message.content, "Let me check. ");
  });
});

test("streamed: text before the call flows as content, the call arrives as tool_calls, never as content", async () => {
  await withScript(CALL, async (c) => {
    const stream = await c.chat.completions.create({ model: "m", messages: [{ role: "user", content: "Weather?" }], tools: TOOLS, stream: true });
    let content = "";
    let finish: string | null = null;
    const calls: Array<{ name?: string; arguments?: string }> = [];
    for await (const chunk of stream) {
      const ch = chunk.choices[0];
      if (!ch) continue;
      content += ch.delta.content ?? "";
      for (const tc of ch.delta.tool_calls ?? []) calls[tc.index] = { name: tc.function?.name, arguments: tc.function?.arguments };
      finish = ch.finish_reason ?? finish;
    }
    assert.equal(content, "Let me check. ");
    assert.equal(finish, "tool_calls");
    assert.equal(calls.length, 1);
    assert.equal(calls[0]!.name, "get_weather");
    assert.deepEqual(JSON.parse(calls[0]!.arguments!), { city: "Paris" });
  });
});

test("text that only looks like a call is released as content at the end", async () => {
  const pieces = ["I like <tool", "_call> tags."];
  await withScript(pieces, async (c) => {
    const stream = await c.chat.completions.create({ model: "m", messages: [{ role: "user", content: "x" }], tools: TOOLS, stream: true });
    let content = "";
    let finish: string | null = null;
    for await (const chunk of stream) {
      content += chunk.choices[0]?.delta.content ?? "";
      finish = chunk.choices[0]?.finish_reason ?? finish;
    }
    assert.equal(content, "I like <tool_call> tags.");
    assert.equal(finish, "stop");
  });
});

test("the chat template's end-of-turn marker stops generation", async () => {
  const seen = await withScript(["hi"], async (c) => {
    await c.chat.completions.create({ model: "m", messages: [{ role: "user", content: "x" }] });
  });
  // <|im_end|> is not a token of this vocabulary, so it is a stop string
  assert.ok(seen[0]!.stop!.includes("<|im_end|>"));
});

test("tool_choice required forces a call in the template's syntax, with arguments matching the schema", async () => {
  const r = await client.chat.completions.create({
    model: "m", messages: [{ role: "user", content: "Weather in Paris?" }], tools: TOOLS, tool_choice: "required", temperature: 0, max_tokens: 150,
  });
  const ch = r.choices[0]!;
  assert.equal(ch.finish_reason, "tool_calls");
  const call = ch.message.tool_calls![0]! as OpenAI.Chat.Completions.ChatCompletionMessageFunctionToolCall;
  assert.equal(call.function.name, "get_weather");
  const args = JSON.parse(call.function.arguments) as { city: unknown };
  assert.equal(typeof args.city, "string");
  const named = await client.chat.completions.create({
    model: "m", messages: [{ role: "user", content: "x" }], tools: TOOLS, tool_choice: { type: "function", function: { name: "get_weather" } },
    temperature: 0, max_tokens: 150, stream: true,
  });
  let finish: string | null = null;
  let name: string | undefined;
  for await (const chunk of named) {
    finish = chunk.choices[0]?.finish_reason ?? finish;
    name ??= chunk.choices[0]?.delta.tool_calls?.[0]?.function?.name;
  }
  assert.equal(finish, "tool_calls");
  assert.equal(name, "get_weather");
});
