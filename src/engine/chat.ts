// Chat on a session: messages → the model's template (or a fallback format) → generate() → deltas
// of content, then tool calls parsed from the reply, then the finish reason and usage. Successive
// turns on one session share their prompt prefix, so only the new messages are evaluated.

import { UserError } from "../errors.ts";
import { parseToolCalls } from "../chat/tool-calls.ts";
import { ToolCallHoldback } from "../chat/tool-stream.ts";
import type { ChatMessage, Tool, ToolCall } from "../chat/types.ts";
import type { SamplerParams, TokenConstraint } from "../sample/sampler.ts";
import type { TokenLogprobs } from "../sample/logprobs.ts";
import { chatPromptTokens, type ChatSetup } from "./chat-prompt.ts";
import { responseConstraint, toolChoiceConstraint, type ResponseFormat } from "./constraints.ts";
import { generate } from "./generate.ts";
import type { Session } from "./session.ts";

export type ToolChoice = "auto" | "none" | "required" | { readonly type: "function"; readonly function: { readonly name: string } };

export interface ChatOptions extends Omit<SamplerParams, "constraint"> {
  /** Functions the model may call; their calls come back as `toolCalls`. */
  readonly tools?: readonly Tool[];
  /** "auto" (default): the model decides; "required" or a named function: the reply is one call, grammar-enforced. */
  readonly toolChoice?: ToolChoice;
  /** JSON output: `{ type: "json_object" }` or `{ type: "json_schema", json_schema: { schema } }`, grammar-enforced. */
  readonly responseFormat?: ResponseFormat;
  /** Report the log-probability of each generated token. */
  readonly logprobs?: boolean;
  /** With `logprobs`: this many (0–20) most likely alternatives per token. */
  readonly topLogprobs?: number;
  /** Stop strings, besides the template's end of turn; they are not emitted. */
  readonly stop?: readonly string[];
  /** Most tokens to generate (default 256). */
  readonly maxTokens?: number;
  /** Stops within one token; the session stays usable. */
  readonly signal?: AbortSignal;
}

export type ChatFinishReason = "stop" | "length" | "tool_calls" | "abort";

export interface ChatUsage {
  promptTokens: number;
  completionTokens: number;
  totalTokens: number;
  /** Prompt tokens found already in the session's KV cache. */
  cachedTokens: number;
}

export interface ChatDelta {
  content?: string;
  toolCalls?: ToolCall[];
  logprobs?: TokenLogprobs[];
  /** Set on the last delta only, with `usage`. */
  finishReason?: ChatFinishReason;
  usage?: ChatUsage;
}

export interface ChatCompletion {
  message: { role: "assistant"; content: string | null; toolCalls?: ToolCall[] };
  finishReason: ChatFinishReason;
  usage: ChatUsage;
  /** With the `logprobs` option: one entry per generated token. */
  logprobs?: TokenLogprobs[];
}

/** Deltas as the reply is generated; `result()` runs it to the end and returns the whole reply. */
export interface ChatStream extends AsyncIterable<ChatDelta> {
  result(): Promise<ChatCompletion>;
}

export function chat(session: Session, setup: ChatSetup, messages: readonly ChatMessage[], opts: ChatOptions = {}): ChatStream {
  let completion: ChatCompletion | undefined;
  let iterator: AsyncGenerator<ChatDelta> | undefined;
  const start = () => {
    if (iterator) throw new Error("a chat stream can be consumed once");
    iterator = run(session, setup, messages, opts, (c) => (completion = c));
    return iterator;
  };
  return {
    [Symbol.asyncIterator]: start,
    async result() {
      const it = iterator ?? start();
      for (let r = await it.next(); !r.done; r = await it.next());
      if (!completion) throw new Error("the chat stream ended without a result");
      return completion;
    },
  };
}

function samplerParams(opts: ChatOptions): SamplerParams {
  const { temperature, topK, topP, minP, typicalP, repeatPenalty, frequencyPenalty, presencePenalty, repeatLastN, logitBias, seed, minKeep } = opts;
  return { temperature, topK, topP, minP, typicalP, repeatPenalty, frequencyPenalty, presencePenalty, repeatLastN, logitBias, seed, minKeep };
}

async function* run(
  session: Session,
  setup: ChatSetup,
  messages: readonly ChatMessage[],
  opts: ChatOptions,
  done: (c: ChatCompletion) => void,
): AsyncGenerator<ChatDelta> {
  const model = session.model;
  const choice = opts.toolChoice ?? "auto";
  const tools = choice === "none" || !opts.tools?.length ? undefined : opts.tools;
  if (typeof choice === "object" && !tools?.some((t) => t.function.name === choice.function.name)) {
    throw new UserError(`toolChoice names '${choice.function.name}', which is not in tools`);
  }
  if (choice === "required" && !tools) throw new UserError("toolChoice 'required' needs tools");
  const prompt = chatPromptTokens(model, setup, messages, tools);
  let constraint: TokenConstraint | undefined;
  if (tools && (choice === "required" || typeof choice === "object")) constraint = toolChoiceConstraint(model, setup, tools, choice)();
  else if (opts.responseFormat) constraint = responseConstraint(model, opts.responseFormat)?.();

  const gen = generate(session, prompt, {
    ...samplerParams(opts),
    constraint,
    maxTokens: opts.maxTokens,
    stop: [...(opts.stop ?? []), ...setup.stopStrings],
    stopTokens: setup.stopTokens,
    signal: opts.signal,
    logprobs: opts.logprobs ? (opts.topLogprobs ?? 0) : undefined,
  });
  // A reply that may hold a tool call is held back from the opener on: a call reaches the caller
  // as toolCalls, never as content.
  const hold = tools ? new ToolCallHoldback(setup.toolFormat) : undefined;
  let full = "";
  const allLogprobs: TokenLogprobs[] = [];
  let pendingLogprobs: TokenLogprobs[] = [];
  const delta = (content: string): ChatDelta | undefined => {
    if (content === "" && pendingLogprobs.length === 0) return undefined;
    const d: ChatDelta = {};
    if (content !== "") d.content = content;
    if (pendingLogprobs.length > 0) d.logprobs = pendingLogprobs;
    pendingLogprobs = [];
    return d;
  };
  for await (const c of gen) {
    full += c.text;
    if (c.logprobs) {
      allLogprobs.push(c.logprobs);
      pendingLogprobs.push(c.logprobs);
    }
    const text = hold ? hold.push(c.text) : c.text;
    // logprobs of held-back text wait for the text (or the end)
    if (text !== "" || (!hold && pendingLogprobs.length > 0)) yield delta(text)!;
  }

  const stats = gen.stats;
  let finishReason: ChatFinishReason = stats.finishReason ?? "stop";
  let content: string | null = full;
  let toolCalls: ToolCall[] | undefined;
  if (hold) {
    const parsed = parseToolCalls(full, setup.toolFormat, { tools });
    if (parsed.toolCalls.length > 0 && finishReason !== "abort") {
      hold.finish();
      toolCalls = parsed.toolCalls;
      content = parsed.content;
      finishReason = "tool_calls";
    } else {
      const d = delta(hold.finish());
      if (d) yield d;
    }
  }
  const promptTokens = stats.promptTokens.length;
  const completionTokens = stats.generatedTokens.length;
  const usage: ChatUsage = { promptTokens, completionTokens, totalTokens: promptTokens + completionTokens, cachedTokens: stats.reusedTokens };
  const last: ChatDelta = { finishReason, usage };
  if (toolCalls) last.toolCalls = toolCalls;
  if (pendingLogprobs.length > 0) last.logprobs = pendingLogprobs;
  done({
    message: toolCalls ? { role: "assistant", content, toolCalls } : { role: "assistant", content },
    finishReason,
    usage,
    ...(opts.logprobs ? { logprobs: allLogprobs } : {}),
  });
  yield last;
}
