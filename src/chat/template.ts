// Turning messages into the prompt text a model was trained on, from the model's own Jinja
// template. The text contains special-token strings (`<|eot_id|>`, `[INST]`, …) and must be
// tokenized with special-token parsing on.

import { JinjaTemplate } from "./jinja.ts";
import type { ChatMessage, Tool } from "./types.ts";

export interface ApplyTemplateOptions {
  messages: readonly ChatMessage[];
  tools?: readonly Tool[];
  addGenerationPrompt?: boolean;
  bosToken?: string;
  eosToken?: string;
  /** Clock for strftime_now (the Llama 3.x "Today Date" line). */
  now?: Date;
  /** More template variables (`date_string`, `tools_in_user_message`, `documents`, …). */
  extra?: Record<string, unknown>;
}

// Templates that print `tool_call.arguments | tojson` or iterate `| items` want the arguments as
// an object, while OpenAI sends them as a JSON text. llama.cpp (minja's requires_object_arguments
// check) parses them for exactly these templates; the others print the text as it came.
const WANTS_OBJECT_ARGUMENTS = /tool_call\.arguments \| (?:items|tojson)/;

const cache = new Map<string, JinjaTemplate>();

function compile(source: string): JinjaTemplate {
  let t = cache.get(source);
  if (!t) {
    t = new JinjaTemplate(source);
    if (cache.size > 16) cache.clear();
    cache.set(source, t);
  }
  return t;
}

export function templateWantsObjectArguments(source: string): boolean {
  return WANTS_OBJECT_ARGUMENTS.test(source);
}

function withObjectArguments(messages: readonly ChatMessage[]): ChatMessage[] {
  return messages.map((m) => {
    if (!m.tool_calls?.length) return m;
    const tool_calls = m.tool_calls.map((tc) => {
      const args = tc.function?.arguments;
      if (typeof args !== "string") return tc;
      try {
        return { ...tc, function: { ...tc.function, arguments: JSON.parse(args) } };
      } catch {
        return tc;
      }
    });
    return { ...m, tool_calls } as ChatMessage;
  });
}

/** Render a chat template (the text of `tokenizer.chat_template`). Throws TemplateError on raise_exception. */
export function applyChatTemplate(template: string, options: ApplyTemplateOptions): string {
  const messages = templateWantsObjectArguments(template) ? withObjectArguments(options.messages) : options.messages;
  const context: Record<string, unknown> = {
    messages,
    add_generation_prompt: options.addGenerationPrompt ?? true,
    bos_token: options.bosToken ?? "",
    eos_token: options.eosToken ?? "",
    ...options.extra,
  };
  if (options.tools) context.tools = options.tools;
  return compile(template).render(context, { now: options.now });
}
