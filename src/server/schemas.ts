// Request bodies of the OpenAI endpoints, validated with zod. Unknown fields are dropped (clients
// send many we do not use); known fields with wrong types or out-of-range values are 400s.
// Besides OpenAI's fields we take the common extensions of vLLM and llama.cpp (top_k, min_p,
// repetition_penalty, ignore_eos).

import { z } from "zod";
import { ApiError } from "./errors.ts";

const tokenIds = z.array(z.number().int().min(0)).min(1);

const stop = z.union([z.string(), z.array(z.string()).max(16)]).nullish();

const sampling = {
  model: z.string().nullish(),
  n: z.number().int().min(1).max(16).nullish(),
  max_tokens: z.number().int().min(1).nullish(),
  temperature: z.number().min(0).max(2).nullish(),
  top_p: z.number().min(0).max(1).nullish(),
  top_k: z.number().int().min(-1).nullish(),
  min_p: z.number().min(0).max(1).nullish(),
  repetition_penalty: z.number().gt(0).nullish(),
  presence_penalty: z.number().min(-2).max(2).nullish(),
  frequency_penalty: z.number().min(-2).max(2).nullish(),
  logit_bias: z.record(z.string().regex(/^\d+$/, "keys must be token ids"), z.number().min(-100).max(100)).nullish(),
  seed: z.number().int().nullish(),
  stop,
  stream: z.boolean().nullish(),
  stream_options: z.object({ include_usage: z.boolean().nullish() }).nullish(),
  ignore_eos: z.boolean().nullish(),
  user: z.string().nullish(),
};

const contentPart = z.looseObject({ type: z.string(), text: z.string().optional() });

const toolCall = z.object({
  id: z.string(),
  type: z.literal("function"),
  function: z.object({ name: z.string(), arguments: z.string() }),
});

const message = z.looseObject({
  role: z.enum(["system", "developer", "user", "assistant", "tool", "ipython"]),
  content: z.union([z.string(), z.array(contentPart), z.null()]).optional(),
  name: z.string().optional(),
  tool_calls: z.array(toolCall).nullish(),
  tool_call_id: z.string().optional(),
});

const tool = z.object({
  type: z.literal("function"),
  function: z.object({
    name: z.string().min(1),
    description: z.string().optional(),
    parameters: z.record(z.string(), z.unknown()).optional(),
    strict: z.boolean().nullish(),
  }),
});

const responseFormat = z.discriminatedUnion("type", [
  z.object({ type: z.literal("text") }),
  z.object({ type: z.literal("json_object"), schema: z.record(z.string(), z.unknown()).optional() }),
  z.object({
    type: z.literal("json_schema"),
    json_schema: z.object({
      name: z.string().optional(),
      description: z.string().optional(),
      schema: z.record(z.string(), z.unknown()).optional(),
      strict: z.boolean().nullish(),
    }),
  }),
]);

export const chatRequest = z.object({
  ...sampling,
  messages: z.array(message).min(1),
  max_completion_tokens: z.number().int().min(1).nullish(),
  logprobs: z.boolean().nullish(),
  top_logprobs: z.number().int().min(0).max(20).nullish(),
  response_format: responseFormat.nullish(),
  tools: z.array(tool).nullish(),
  tool_choice: z
    .union([z.enum(["none", "auto", "required"]), z.object({ type: z.literal("function"), function: z.object({ name: z.string() }) })])
    .nullish(),
  parallel_tool_calls: z.boolean().nullish(),
});

export const completionRequest = z.object({
  ...sampling,
  prompt: z.union([z.string(), z.array(z.string()).min(1), tokenIds, z.array(tokenIds).min(1)]),
  logprobs: z.number().int().min(0).max(5).nullish(),
  echo: z.boolean().nullish(),
  response_format: responseFormat.nullish(),
});

export const embeddingRequest = z.object({
  model: z.string().nullish(),
  input: z.union([z.string(), z.array(z.string()).min(1), tokenIds, z.array(tokenIds).min(1)]),
  encoding_format: z.enum(["float", "base64"]).nullish(),
  dimensions: z.number().int().min(1).nullish(),
  user: z.string().nullish(),
});

export const tokenizeRequest = z.object({
  model: z.string().nullish(),
  content: z.string().optional(),
  prompt: z.string().optional(),
  add_special: z.boolean().nullish(),
  parse_special: z.boolean().nullish(),
  with_pieces: z.boolean().nullish(),
});

export const detokenizeRequest = z.object({
  model: z.string().nullish(),
  tokens: z.array(z.number().int().min(0)),
});

export type ChatRequest = z.infer<typeof chatRequest>;
export type CompletionRequestBody = z.infer<typeof completionRequest>;
export type EmbeddingRequestBody = z.infer<typeof embeddingRequest>;
export type ResponseFormat = z.infer<typeof responseFormat>;

/** Validate a parsed body; the first problem becomes a 400 naming the field. */
export function validate<S extends z.ZodType>(schema: S, body: unknown): z.infer<S> {
  const r = schema.safeParse(body);
  if (r.success) return r.data;
  const issue = r.error.issues[0]!;
  const param = issue.path.map(String).join(".");
  throw new ApiError(400, param ? `invalid '${param}': ${issue.message}` : `invalid body: ${issue.message}`, { param: param || null });
}
