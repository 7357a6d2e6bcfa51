// Chat messages → prompt tokens, and what ends the assistant's turn. The model's own Jinja
// template when it has one; otherwise the hand-written format its vocabulary suggests (a model
// without a template, such as a base model, still answers through a plain Llama 2 layout).

import { applyChatTemplate } from "../chat/template.ts";
import { detectChatFormat, formatChat, formatToTokens, FORMAT_STOPS, type ChatFormatName } from "../chat/formats.ts";
import { chatTemplateFromMetadata, endOfTurnPieces } from "../chat/source.ts";
import { detectToolCallFormat, type ToolCallFormat } from "../chat/tool-calls.ts";
import type { ChatMessage, Tool } from "../chat/types.ts";
import type { Model } from "./model.ts";

export interface ChatSetup {
  readonly template: string | undefined;
  /** The hand-written format used when there is no template. */
  readonly fallback: ChatFormatName;
  readonly toolFormat: ToolCallFormat | undefined;
  /** Tokens that close the assistant's turn. */
  readonly stopTokens: readonly number[];
  /** Turn-ending pieces that are not single tokens of the vocabulary. */
  readonly stopStrings: readonly string[];
}

export function chatSetup(model: Model): ChatSetup {
  const tok = model.tokenizer;
  const template = tok.chatTemplate ?? chatTemplateFromMetadata(model.file.metadata);
  const hasToken = (piece: string) => {
    const id = tok.tokenId(piece);
    return id !== undefined && tok.isSpecial(id);
  };
  const fallback = detectChatFormat(template, hasToken);
  const eos = tok.eos === undefined ? undefined : tok.tokenText(tok.eos);
  const pieces = template ? endOfTurnPieces(template, eos) : [...FORMAT_STOPS[fallback]];
  const stopTokens: number[] = [];
  const stopStrings: string[] = [];
  for (const p of pieces) {
    const id = tok.tokenId(p);
    if (id !== undefined) stopTokens.push(id);
    else if (template) stopStrings.push(p);
  }
  return { template, fallback, toolFormat: detectToolCallFormat(template), stopTokens, stopStrings };
}

export function chatPromptTokens(model: Model, setup: ChatSetup, messages: readonly ChatMessage[], tools: readonly Tool[] | undefined): number[] {
  const tok = model.tokenizer;
  const bos = tok.bos === undefined ? "" : tok.tokenText(tok.bos);
  const eos = tok.eos === undefined ? "" : tok.tokenText(tok.eos);
  // "developer" is OpenAI's newer name for the system role; templates know only "system".
  const msgs = messages.map((m) => (m.role === "developer" ? { ...m, role: "system" } : m));
  if (setup.template) {
    const text = applyChatTemplate(setup.template, { messages: msgs, tools, bosToken: bos, eosToken: eos, addGenerationPrompt: true });
    const ids = Array.from(tok.encode(text, { addSpecial: true, parseSpecial: true }));
    // Templates usually write the BOS text themselves; the vocabulary's add-BOS must not double it.
    if (tok.bos !== undefined && ids.length > 1 && ids[0] === tok.bos && ids[1] === tok.bos) ids.shift();
    return ids;
  }
  const segments = formatChat(setup.fallback, msgs, { addGenerationPrompt: true, bosToken: bos || undefined, eosToken: eos || undefined });
  return formatToTokens(segments, {
    encodeText: (t) => Array.from(tok.encode(t, { addSpecial: false })),
    specialId: (p) => tok.tokenId(p),
  });
}
