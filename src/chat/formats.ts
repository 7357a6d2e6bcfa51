// Hand-written prompt formats for files that carry no chat template, and an oracle for the Jinja
// path. Like Meta's ChatFormat they build the prompt as pieces: special tokens (by their piece
// text) and plain text. `formatToText` joins them into the string a Jinja template would give
// (to be tokenized with special-token parsing); `formatToTokens` keeps user text from ever
// turning into control tokens, which a string cannot guarantee.

import { UserError } from "../errors.ts";
import type { ChatMessage } from "./types.ts";

export type ChatFormatName = "llama2" | "llama3" | "llama3.1" | "chatml";

export type Segment = { special: string } | { text: string };

export interface FormatOptions {
  addGenerationPrompt?: boolean;
  bosToken?: string;
  eosToken?: string;
  /** Llama 3.1+: the "Today Date" line (default "26 Jul 2024", the template's own default). */
  dateString?: string;
}

/** The text of a message; content-part arrays contribute their text parts, as templates do for text-only models. */
export function messageText(m: ChatMessage): string {
  const c = m.content;
  if (c == null) return "";
  if (typeof c === "string") return c;
  return c.map((p) => (p.type === "text" ? (p.text ?? "") : "")).join("");
}

function llama2(messages: readonly ChatMessage[], o: FormatOptions): Segment[] {
  const bos = o.bosToken ?? "<s>";
  const eos = o.eosToken ?? "</s>";
  let rest = messages;
  let system: string | undefined;
  if (rest[0]?.role === "system") {
    system = messageText(rest[0]);
    rest = rest.slice(1);
  }
  const out: Segment[] = [];
  rest.forEach((m, i) => {
    if ((m.role === "user") !== (i % 2 === 0)) {
      throw new UserError("Conversation roles must alternate user/assistant/user/assistant/...");
    }
    let content = messageText(m);
    if (i === 0 && system !== undefined) content = `<<SYS>>\n${system}\n<</SYS>>\n\n${content}`;
    if (m.role === "user") out.push({ special: bos }, { text: `[INST] ${content.trim()} [/INST]` });
    else out.push({ text: ` ${content.trim()} ` }, { special: eos });
  });
  return out;
}

function llama3Turn(role: string, content: string): Segment[] {
  return [
    { special: "<|start_header_id|>" },
    { text: role },
    { special: "<|end_header_id|>" },
    { text: `\n\n${content.trim()}` },
    { special: "<|eot_id|>" },
  ];
}

function llama3(messages: readonly ChatMessage[], o: FormatOptions, withDate: boolean): Segment[] {
  const out: Segment[] = [{ special: o.bosToken ?? "<|begin_of_text|>" }];
  let rest = messages;
  if (withDate) {
    let system = "";
    if (rest[0]?.role === "system") {
      system = messageText(rest[0]).trim();
      rest = rest.slice(1);
    }
    const preamble = `Cutting Knowledge Date: December 2023\nToday Date: ${o.dateString ?? "26 Jul 2024"}\n\n${system}`;
    out.push({ special: "<|start_header_id|>" }, { text: "system" }, { special: "<|end_header_id|>" });
    out.push({ text: `\n\n${preamble}` }, { special: "<|eot_id|>" });
  }
  for (const m of rest) {
    if (withDate && m.tool_calls?.length) {
      // Llama 3.1's JSON tool-call turn, as its template writes it
      const fn = m.tool_calls[0]!.function;
      const args = parseArguments(fn.arguments);
      out.push({ special: "<|start_header_id|>" }, { text: "assistant" }, { special: "<|end_header_id|>" });
      out.push({ text: `\n\n{"name": "${fn.name}", "parameters": ${pythonJson(args)}}` }, { special: "<|eot_id|>" });
    } else if (withDate && (m.role === "tool" || m.role === "ipython")) {
      // the template prints string results through tojson, quotes included
      const content = typeof m.content === "string" ? pythonJson(m.content) : pythonJson(m.content ?? null);
      out.push({ special: "<|start_header_id|>" }, { text: "ipython" }, { special: "<|end_header_id|>" });
      out.push({ text: `\n\n${content}` }, { special: "<|eot_id|>" });
    } else {
      out.push(...llama3Turn(m.role, messageText(m)));
    }
  }
  if (o.addGenerationPrompt ?? true) {
    out.push({ special: "<|start_header_id|>" }, { text: "assistant" }, { special: "<|end_header_id|>" }, { text: "\n\n" });
  }
  return out;
}

function parseArguments(args: unknown): unknown {
  if (typeof args !== "string") return args;
  try {
    return JSON.parse(args);
  } catch {
    return args;
  }
}

/** JSON as Python's json.dumps(ensure_ascii=False) writes it (", " and ": " separators), which is what `tojson` gives templates. */
export function pythonJson(value: unknown): string {
  if (value === null || value === undefined) return "null";
  if (Array.isArray(value)) return `[${value.map(pythonJson).join(", ")}]`;
  if (typeof value === "object") {
    return `{${Object.entries(value as Record<string, unknown>).map(([k, v]) => `${JSON.stringify(k)}: ${pythonJson(v)}`).join(", ")}}`;
  }
  return JSON.stringify(value);
}

function chatml(messages: readonly ChatMessage[], o: FormatOptions): Segment[] {
  const out: Segment[] = [];
  for (const m of messages) {
    out.push({ special: "<|im_start|>" }, { text: `${m.role}\n${messageText(m)}` }, { special: "<|im_end|>" }, { text: "\n" });
  }
  if (o.addGenerationPrompt ?? true) out.push({ special: "<|im_start|>" }, { text: "assistant\n" });
  return out;
}

export function formatChat(name: ChatFormatName, messages: readonly ChatMessage[], options: FormatOptions = {}): Segment[] {
  switch (name) {
    case "llama2": return llama2(messages, options);
    case "llama3": return llama3(messages, options, false);
    case "llama3.1": return llama3(messages, options, true);
    case "chatml": return chatml(messages, options);
  }
}

export function formatToText(segments: readonly Segment[]): string {
  return segments.map((s) => ("special" in s ? s.special : s.text)).join("");
}

export interface SegmentTokenizer {
  /** Token ids of plain text, with special-token parsing off and no BOS. */
  encodeText(text: string): number[];
  /** The id of a special token's piece, or undefined when the vocabulary lacks it. */
  specialId(piece: string): number | undefined;
}

export function formatToTokens(segments: readonly Segment[], tokenizer: SegmentTokenizer): number[] {
  const ids: number[] = [];
  for (const s of segments) {
    if ("special" in s) {
      if (s.special === "") continue;
      const id = tokenizer.specialId(s.special);
      if (id === undefined) throw new UserError(`the vocabulary has no token ${JSON.stringify(s.special)} needed by the chat format`);
      ids.push(id);
    } else if (s.text !== "") {
      ids.push(...tokenizer.encodeText(s.text));
    }
  }
  return ids;
}

/** The turn-ending pieces of each format: generation stops when one is produced. */
export const FORMAT_STOPS: Record<ChatFormatName, readonly string[]> = {
  llama2: ["</s>"],
  llama3: ["<|eot_id|>"],
  "llama3.1": ["<|eot_id|>", "<|eom_id|>"],
  chatml: ["<|im_end|>"],
};

/**
 * Which hand-written format fits a model: from markers in its template when it has one (the same
 * tells llama.cpp's template detection uses), else from the special tokens its vocabulary has.
 */
export function detectChatFormat(template: string | undefined, hasToken: (piece: string) => boolean = () => false): ChatFormatName {
  if (template) {
    if (template.includes("<|start_header_id|>")) {
      return template.includes("Cutting Knowledge Date") ? "llama3.1" : "llama3";
    }
    if (template.includes("<|im_start|>")) return "chatml";
    if (template.includes("[INST]")) return "llama2";
  }
  if (hasToken("<|start_header_id|>")) return hasToken("<|eom_id|>") ? "llama3.1" : "llama3";
  if (hasToken("<|im_start|>")) return "chatml";
  return "llama2";
}
