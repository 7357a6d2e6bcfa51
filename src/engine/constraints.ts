// Token constraints for structured output: response_format (json_object / json_schema) and a
// tool_choice that forces a call, as grammars over the vocabulary's bytes. The grammar is
// compiled once per request; each choice walks it with its own constraint.

import type { Model } from "./model.ts";
import type { TokenConstraint } from "../sample/sampler.ts";
import { createGrammarConstraint } from "../sample/grammar/constraint.ts";
import { compileGrammar, parseGbnf } from "../sample/grammar/gbnf.ts";
import { GrammarMatcher } from "../sample/grammar/matcher.ts";
import { jsonObjectGbnf, jsonSchemaToGbnf, gbnfLiteral } from "../sample/grammar/json-schema.ts";
import type { Tool } from "../chat/types.ts";
import type { ChatSetup } from "./chat-prompt.ts";

/** OpenAI's response_format: free text, any JSON object, or JSON under a schema. */
export type ResponseFormat =
  | { readonly type: "text" }
  | { readonly type: "json_object"; readonly schema?: Readonly<Record<string, unknown>> }
  | { readonly type: "json_schema"; readonly json_schema: { readonly name?: string; readonly schema?: Readonly<Record<string, unknown>> } };

function constraintFactory(model: Model, gbnf: string): () => TokenConstraint {
  const matcher = new GrammarMatcher(compileGrammar(parseGbnf(gbnf)));
  return () => createGrammarConstraint(matcher, model.tokenizer);
}

export function responseConstraint(model: Model, format: ResponseFormat): (() => TokenConstraint) | undefined {
  if (format.type === "text") return undefined;
  if (format.type === "json_object") return constraintFactory(model, format.schema ? jsonSchemaToGbnf(format.schema) : jsonObjectGbnf());
  const schema = format.json_schema.schema;
  return constraintFactory(model, schema ? jsonSchemaToGbnf(schema) : jsonObjectGbnf());
}

/** Wraps the grammar's root in literal text before and after it. */
function wrapRoot(gbnf: string, before: string, after: string): string {
  const lines = gbnf.split("\n");
  const i = lines.findIndex((l) => l.startsWith("root ::= "));
  if (i < 0) throw new Error("the JSON-schema grammar has no root rule");
  lines[i] = `root ::= ${gbnfLiteral(before)} (${lines[i]!.slice("root ::= ".length)}) ${gbnfLiteral(after)}`;
  return lines.join("\n");
}

/**
 * tool_choice "required" or a named function: the reply must be one call, written in the syntax
 * the model's template teaches, with arguments that satisfy the tool's parameter schema.
 */
export function toolChoiceConstraint(
  model: Model,
  chat: ChatSetup,
  tools: readonly Tool[],
  choice: "required" | { type: "function"; function: { name: string } },
): () => TokenConstraint {
  const chosen = choice === "required" ? tools : tools.filter((t) => t.function.name === choice.function.name);
  // Llama 3 writes `parameters`; the others write `arguments`.
  const argsKey = chat.toolFormat === "llama3" ? "parameters" : "arguments";
  const callSchemas = chosen.map((t) => ({
    type: "object",
    properties: { name: { const: t.function.name }, [argsKey]: t.function.parameters ?? { type: "object" } },
    required: ["name", argsKey],
  }));
  const call = callSchemas.length === 1 ? callSchemas[0]! : { anyOf: callSchemas };
  if (chat.toolFormat === "mistral") return constraintFactory(model, wrapRoot(jsonSchemaToGbnf({ type: "array", items: call, minItems: 1, maxItems: 1 }), "[TOOL_CALLS]", ""));
  if (chat.toolFormat === "hermes") return constraintFactory(model, wrapRoot(jsonSchemaToGbnf(call), "<tool_call>", "</tool_call>"));
  return constraintFactory(model, jsonSchemaToGbnf(call));
}
