// POST /v1/chat/completions, /v1/completions and /v1/embeddings: OpenAI request → scheduler job →
// OpenAI response, whole or as server-sent events.

import type { Model } from "../engine/model.ts";
import type { CompletionRequest, JobEvent, Scheduler, SchedulerFinishReason } from "../engine/scheduler.ts";
import type { SamplerParams, TokenConstraint } from "../sample/sampler.ts";
import type { TokenLogprobs } from "../sample/logprobs.ts";
import { parseToolCalls } from "../chat/tool-calls.ts";
import type { ChatMessage, Tool, ToolCall } from "../chat/types.ts";
import { chatPromptTokens, type ChatSetup } from "../engine/chat-prompt.ts";
import { ApiError } from "./errors.ts";
import { chatLogprob, completionLogprobs, float32Base64, newId, usage } from "./format.ts";
import type { ChatRequest, CompletionRequestBody, EmbeddingRequestBody } from "./schemas.ts";
import { sseResponse } from "./sse.ts";
import { ToolCallHoldback } from "../chat/tool-stream.ts";
import { responseConstraint, toolChoiceConstraint } from "../engine/constraints.ts";

export interface Engine {
  readonly model: Model;
  readonly scheduler: Scheduler;
  /** The name clients use in `model` (the alias, else the file's name). */
  readonly modelId: string;
  readonly chat: ChatSetup;
  /** Unix seconds at load. */
  readonly created: number;
}

type SamplingBody = Pick<
  ChatRequest,
  "temperature" | "top_p" | "top_k" | "min_p" | "repetition_penalty" | "presence_penalty" | "frequency_penalty" | "logit_bias" | "seed" | "stop"
>;

function samplerParams(body: SamplingBody, vocab: number): SamplerParams {
  const bias = body.logit_bias ?? undefined;
  if (bias) {
    for (const k of Object.keys(bias)) {
      if (Number(k) >= vocab) throw new ApiError(400, `logit_bias: token ${k} is out of range (vocabulary of ${vocab})`, { param: "logit_bias" });
    }
  }
  // OpenAI's defaults: plain softmax sampling at temperature 1 unless asked otherwise.
  return {
    temperature: body.temperature ?? 1,
    topP: body.top_p ?? 1,
    topK: body.top_k === undefined || body.top_k === null || body.top_k < 0 ? 0 : body.top_k,
    minP: body.min_p ?? 0,
    repeatPenalty: body.repetition_penalty ?? 1,
    presencePenalty: body.presence_penalty ?? 0,
    frequencyPenalty: body.frequency_penalty ?? 0,
    logitBias: bias,
    seed: body.seed ?? undefined,
  };
}

function stopList(stop: string | string[] | null | undefined): string[] {
  if (stop === undefined || stop === null) return [];
  return (typeof stop === "string" ? [stop] : stop).filter((s) => s.length > 0);
}

/** A controller aborted when the client goes away or stops reading. */
function linkAbort(signal: AbortSignal | undefined): AbortController {
  const ac = new AbortController();
  if (signal) {
    if (signal.aborted) ac.abort();
    else signal.addEventListener("abort", () => ac.abort(), { once: true });
  }
  return ac;
}

interface ChoiceResult {
  text: string;
  generated: number;
  logprobs: TokenLogprobs[];
  finish: SchedulerFinishReason;
}

interface Collected {
  choices: ChoiceResult[];
  promptTokens: number;
  cachedTokens: number;
}

async function collect(events: AsyncIterable<JobEvent>, n: number): Promise<Collected> {
  const out: Collected = {
    choices: Array.from({ length: n }, () => ({ text: "", generated: 0, logprobs: [], finish: "stop" as SchedulerFinishReason })),
    promptTokens: 0,
    cachedTokens: 0,
  };
  for await (const e of events) {
    if (e.type === "started") {
      out.promptTokens = e.promptTokens;
      out.cachedTokens = e.cachedTokens;
    } else if (e.type === "token") {
      const c = out.choices[e.choice]!;
      c.text += e.text;
      if (e.logprobs) c.logprobs.push(e.logprobs);
    } else if (e.type === "done") {
      const c = out.choices[e.choice]!;
      c.text += e.text;
      c.generated = e.generatedTokens;
      c.finish = e.finishReason;
    } else if (e.type === "error") {
      throw e.error;
    }
  }
  return out;
}

function finishReason(r: SchedulerFinishReason): "stop" | "length" {
  return r === "length" ? "length" : "stop";
}

// --- chat ---

export function chatCompletions(engine: Engine, body: ChatRequest, signal?: AbortSignal): Response | Promise<Response> {
  const { model, scheduler, chat } = engine;
  const choice = body.tool_choice ?? "auto";
  const tools = choice === "none" || !body.tools?.length ? undefined : (body.tools as Tool[]);
  if (typeof choice === "object" && !tools?.some((t) => t.function.name === choice.function.name)) {
    throw new ApiError(400, `tool_choice names '${choice.function.name}', which is not in tools`, { param: "tool_choice" });
  }
  if (choice === "required" && !tools) throw new ApiError(400, "tool_choice 'required' needs tools", { param: "tool_choice" });
  const prompt = chatPromptTokens(model, chat, body.messages as ChatMessage[], tools);
  let constraint: (() => TokenConstraint) | undefined;
  if (tools && choice !== "auto" && choice !== "none") constraint = toolChoiceConstraint(model, chat, tools, choice);
  else if (body.response_format && body.response_format.type !== "text") constraint = responseConstraint(model, body.response_format);
  const n = body.n ?? 1;
  const ac = linkAbort(signal);
  const req: CompletionRequest = {
    prompt,
    n,
    maxTokens: body.max_completion_tokens ?? body.max_tokens ?? undefined,
    sampling: samplerParams(body, model.config.vocabSize),
    constraint,
    stop: [...stopList(body.stop), ...chat.stopStrings],
    stopTokens: chat.stopTokens,
    ignoreEos: body.ignore_eos ?? false,
    logprobs: body.logprobs ? (body.top_logprobs ?? 0) : undefined,
    signal: ac.signal,
  };
  const events = scheduler.complete(req);
  const id = newId("chatcmpl-");
  const base = { id, created: Math.floor(Date.now() / 1000), model: engine.modelId, system_fingerprint: "llamats" };
  const tok = model.tokenizer;
  const parse = (text: string) => parseToolCalls(text, chat.toolFormat, { tools });

  if (!body.stream) {
    return collect(events, n).then((r) => {
      const choices = r.choices.map((c, index) => {
        let message: { role: "assistant"; content: string | null; tool_calls?: ToolCall[] } = { role: "assistant", content: c.text };
        let finish: string = finishReason(c.finish);
        if (tools) {
          const parsed = parse(c.text);
          if (parsed.toolCalls.length > 0) {
            message = { role: "assistant", content: parsed.content, tool_calls: parsed.toolCalls };
            finish = "tool_calls";
          }
        }
        return {
          index,
          message,
          logprobs: req.logprobs === undefined ? null : { content: c.logprobs.map((lp) => chatLogprob(tok, lp)), refusal: null },
          finish_reason: finish,
        };
      });
      const completion = r.choices.reduce((a, c) => a + c.generated, 0);
      return Response.json({ ...base, object: "chat.completion", choices, usage: usage(r.promptTokens, completion, r.cachedTokens) });
    });
  }

  const includeUsage = body.stream_options?.include_usage ?? false;
  return sseResponse(async (send) => {
    const chunk = (choices: unknown[]) => send({ ...base, object: "chat.completion.chunk", choices, ...(includeUsage ? { usage: null } : {}) });
    const holds = tools ? Array.from({ length: n }, () => new ToolCallHoldback(chat.toolFormat)) : undefined;
    const full = new Array<string>(n).fill("");
    const pendingLp: TokenLogprobs[][] = Array.from({ length: n }, () => []);
    const content = (index: number, text: string) => {
      const lps = pendingLp[index]!;
      if (text === "" && lps.length === 0) return;
      const logprobs = req.logprobs === undefined ? null : { content: lps.map((lp) => chatLogprob(tok, lp)), refusal: null };
      pendingLp[index] = [];
      chunk([{ index, delta: { content: text }, logprobs, finish_reason: null }]);
    };
    let promptTokens = 0;
    let cached = 0;
    let completion = 0;
    for (let i = 0; i < n; i++) chunk([{ index: i, delta: { role: "assistant", content: "" }, logprobs: null, finish_reason: null }]);
    for await (const e of events) {
      if (e.type === "started") {
        promptTokens = e.promptTokens;
        cached = e.cachedTokens;
      } else if (e.type === "token") {
        full[e.choice] += e.text;
        if (e.logprobs) pendingLp[e.choice]!.push(e.logprobs);
        const text = holds ? holds[e.choice]!.push(e.text) : e.text;
        if (text !== "" || (!holds && e.logprobs)) content(e.choice, text);
      } else if (e.type === "done") {
        if (e.finishReason === "abort") continue;
        completion += e.generatedTokens;
        full[e.choice] += e.text;
        let text = holds ? holds[e.choice]!.push(e.text) : e.text;
        let finish: string = finishReason(e.finishReason);
        if (holds) {
          const parsed = parse(full[e.choice]!);
          if (parsed.toolCalls.length > 0) {
            content(e.choice, text);
            const calls = parsed.toolCalls.map((tc, index) => ({ index, ...tc }));
            chunk([{ index: e.choice, delta: { tool_calls: calls }, logprobs: null, finish_reason: null }]);
            finish = "tool_calls";
            text = "";
          } else {
            text += holds[e.choice]!.finish();
          }
        }
        content(e.choice, text);
        chunk([{ index: e.choice, delta: {}, logprobs: null, finish_reason: finish }]);
      } else if (e.type === "error") {
        throw e.error;
      }
    }
    if (includeUsage && !ac.signal.aborted) {
      send({ ...base, object: "chat.completion.chunk", choices: [], usage: usage(promptTokens, completion, cached) });
    }
  }, () => ac.abort());
}

// --- legacy completions ---

function promptList(model: Model, prompt: CompletionRequestBody["prompt"]): number[][] {
  const encode = (s: string) => Array.from(model.tokenizer.encode(s, { addSpecial: true, parseSpecial: true }));
  if (typeof prompt === "string") return [encode(prompt)];
  if (prompt.length > 0 && typeof prompt[0] === "number") return [prompt as number[]];
  return (prompt as Array<string | number[]>).map((p) => (typeof p === "string" ? encode(p) : p));
}

async function* merge(sources: AsyncIterable<JobEvent>[]): AsyncGenerator<{ src: number; e: JobEvent }> {
  const its = sources.map((s) => s[Symbol.asyncIterator]());
  const next = (i: number) => its[i]!.next().then((r) => ({ i, r }));
  const pending = new Map<number, Promise<{ i: number; r: IteratorResult<JobEvent> }>>();
  its.forEach((_, i) => pending.set(i, next(i)));
  try {
    while (pending.size > 0) {
      const { i, r } = await Promise.race(pending.values());
      if (r.done) {
        pending.delete(i);
        continue;
      }
      pending.set(i, next(i));
      yield { src: i, e: r.value };
    }
  } finally {
    for (const [i] of pending) void its[i]!.return?.();
  }
}

export function completions(engine: Engine, body: CompletionRequestBody, signal?: AbortSignal): Response | Promise<Response> {
  const { model, scheduler } = engine;
  const prompts = promptList(model, body.prompt);
  const n = body.n ?? 1;
  const constraint = body.response_format && body.response_format.type !== "text" ? responseConstraint(model, body.response_format) : undefined;
  const ac = linkAbort(signal);
  const logprobs = body.logprobs ?? undefined;
  const sampling = samplerParams(body, model.config.vocabSize);
  const sources: AsyncIterable<JobEvent>[] = [];
  try {
    for (const prompt of prompts) {
      sources.push(
        scheduler.complete({
          prompt,
          n,
          // OpenAI's default for this endpoint.
          maxTokens: body.max_tokens ?? 16,
          sampling,
          constraint,
          stop: stopList(body.stop),
          ignoreEos: body.ignore_eos ?? false,
          logprobs,
          signal: ac.signal,
        }),
      );
    }
  } catch (e) {
    ac.abort();
    throw e;
  }
  const tok = model.tokenizer;
  const echo = body.echo ? prompts.map((p) => tok.decode(p, { skipSpecial: true })) : undefined;
  const id = newId("cmpl-");
  const base = { id, created: Math.floor(Date.now() / 1000), model: engine.modelId, system_fingerprint: "llamats" };
  const total = prompts.length * n;

  if (!body.stream) {
    return Promise.all(sources.map((s) => collect(s, n))).then((results) => {
      const choices = results.flatMap((r, p) =>
        r.choices.map((c, i) => {
          const prefix = echo?.[p] ?? "";
          return {
            index: p * n + i,
            text: prefix + c.text,
            logprobs: logprobs === undefined ? null : completionLogprobs(tok, c.logprobs, prefix.length),
            finish_reason: finishReason(c.finish),
          };
        }),
      );
      const promptTokens = results.reduce((a, r) => a + r.promptTokens, 0);
      const cached = results.reduce((a, r) => a + r.cachedTokens, 0);
      const completion = results.reduce((a, r) => a + r.choices.reduce((b, c) => b + c.generated, 0), 0);
      return Response.json({ ...base, object: "text_completion", choices, usage: usage(promptTokens, completion, cached) });
    });
  }

  const includeUsage = body.stream_options?.include_usage ?? false;
  return sseResponse(async (send) => {
    const chunk = (index: number, text: string, lps: TokenLogprobs[] | undefined, offset: number, finish: string | null) =>
      send({
        ...base,
        object: "text_completion",
        choices: [{ index, text, logprobs: lps ? completionLogprobs(tok, lps, offset) : null, finish_reason: finish }],
        ...(includeUsage ? { usage: null } : {}),
      });
    const offsets = new Array<number>(total).fill(0);
    let promptTokens = 0;
    let cached = 0;
    let completion = 0;
    if (echo) {
      for (let p = 0; p < prompts.length; p++) {
        for (let i = 0; i < n; i++) {
          chunk(p * n + i, echo[p]!, logprobs === undefined ? undefined : [], 0, null);
          offsets[p * n + i] = echo[p]!.length;
        }
      }
    }
    for await (const { src, e } of merge(sources)) {
      if (e.type === "started") {
        promptTokens += e.promptTokens;
        cached += e.cachedTokens;
      } else if (e.type === "token") {
        const index = src * n + e.choice;
        chunk(index, e.text, e.logprobs ? [e.logprobs] : undefined, offsets[index]!, null);
        offsets[index]! += e.text.length;
      } else if (e.type === "done") {
        if (e.finishReason === "abort") continue;
        completion += e.generatedTokens;
        chunk(src * n + e.choice, e.text, logprobs === undefined ? undefined : [], offsets[src * n + e.choice]!, finishReason(e.finishReason));
      } else if (e.type === "error") {
        throw e.error;
      }
    }
    if (includeUsage && !ac.signal.aborted) {
      send({ ...base, object: "text_completion", choices: [], usage: usage(promptTokens, completion, cached) });
    }
  }, () => ac.abort());
}

// --- embeddings ---

export async function embeddings(engine: Engine, body: EmbeddingRequestBody, signal?: AbortSignal): Promise<Response> {
  const { model, scheduler } = engine;
  const dim = model.config.dim;
  if (body.dimensions != null && body.dimensions !== dim) {
    throw new ApiError(400, `this model's embeddings have ${dim} dimensions; 'dimensions' = ${body.dimensions} is not supported`, { param: "dimensions" });
  }
  const input = body.input;
  const encode = (s: string) => Array.from(model.tokenizer.encode(s, { addSpecial: true, parseSpecial: false }));
  const lists: number[][] =
    typeof input === "string" ? [encode(input)]
    : typeof input[0] === "number" ? [input as number[]]
    : (input as Array<string | number[]>).map((x) => (typeof x === "string" ? encode(x) : x));
  const ac = linkAbort(signal);
  const jobs: AsyncIterable<JobEvent>[] = [];
  try {
    for (const tokens of lists) jobs.push(scheduler.embed({ tokens, signal: ac.signal }));
  } catch (e) {
    ac.abort();
    throw e;
  }
  const vectors = await Promise.all(
    jobs.map(async (job) => {
      for await (const e of job) {
        if (e.type === "embedding") return e.vector;
        if (e.type === "error") throw e.error;
      }
      throw new ApiError(499, "the request was cancelled");
    }),
  );
  const base64 = body.encoding_format === "base64";
  const tokens = lists.reduce((a, l) => a + l.length, 0);
  return Response.json({
    object: "list",
    data: vectors.map((v, index) => ({ object: "embedding", index, embedding: base64 ? float32Base64(v) : Array.from(v) })),
    model: engine.modelId,
    usage: { prompt_tokens: tokens, total_tokens: tokens },
  });
}
