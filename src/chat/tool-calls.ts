// Reading tool calls out of generated text and returning them in OpenAI's shape.
//  - Llama 3.1/3.2/3.3 JSON: the whole reply is `{"name": "f", "parameters": {...}}` (several may be
//    separated by ";"), optionally after <|python_tag|>; built-in tools come as
//    `<|python_tag|>brave_search.call(query="...")`.
//  - Hermes / Qwen: `<tool_call>{"name": "f", "arguments": {...}}</tool_call>`, any number, with text around.
//  - Mistral: `[TOOL_CALLS][{"name": "f", "arguments": {...}, "id": "..."}]`.

import type { Tool, ToolCall } from "./types.ts";

export type ToolCallFormat = "llama3" | "hermes" | "mistral";

export interface ParsedReply {
  /** Text that is not a tool call; null when the reply was only tool calls. */
  content: string | null;
  toolCalls: ToolCall[];
}

/** Which tool-call syntax a chat template teaches its model. */
export function detectToolCallFormat(template: string | undefined): ToolCallFormat | undefined {
  if (!template) return undefined;
  if (template.includes("<tool_call>")) return "hermes";
  if (template.includes("[TOOL_CALLS]")) return "mistral";
  if (template.includes("<|start_header_id|>") && (template.includes("<|python_tag|>") || template.includes('"parameters"'))) return "llama3";
  return undefined;
}

/** Text that starts a tool call in each format: a streaming server holds output back once it sees one. */
export const TOOL_CALL_OPENERS: Record<ToolCallFormat, readonly string[]> = {
  llama3: ["<|python_tag|>", "{"],
  hermes: ["<tool_call>"],
  mistral: ["[TOOL_CALLS]"],
};

export interface ParseOptions {
  /** Only names of these tools count as calls (built-ins of Llama 3.1 always do). */
  tools?: readonly Tool[];
  /** Ids for the calls (default: "call_" + 24 random alphanumerics). */
  makeId?: (index: number) => string;
}

const ID_CHARS = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";

function randomId(): string {
  const bytes = new Uint8Array(24);
  crypto.getRandomValues(bytes);
  let s = "call_";
  for (const b of bytes) s += ID_CHARS[b % ID_CHARS.length];
  return s;
}

interface RawCall {
  name: string;
  args: unknown;
  id?: string;
}

function toCalls(raw: RawCall[], options: ParseOptions): ToolCall[] {
  return raw.map((c, i) => ({
    id: c.id ?? options.makeId?.(i) ?? randomId(),
    type: "function",
    function: { name: c.name, arguments: typeof c.args === "string" ? c.args : JSON.stringify(c.args ?? {}) },
  }));
}

/** Reads one JSON value from `text` at `start`; returns it and where it ended, or undefined. */
export function readJsonValue(text: string, start: number): { value: unknown; end: number } | undefined {
  let i = start;
  while (i < text.length && /\s/.test(text[i]!)) i++;
  const open = text[i];
  if (open !== "{" && open !== "[") return undefined;
  // find the matching bracket, skipping strings, then let JSON.parse judge the slice
  let depth = 0;
  let inString = false;
  for (let j = i; j < text.length; j++) {
    const ch = text[j]!;
    if (inString) {
      if (ch === "\\") j++;
      else if (ch === '"') inString = false;
    } else if (ch === '"') inString = true;
    else if (ch === "{" || ch === "[") depth++;
    else if (ch === "}" || ch === "]") {
      depth--;
      if (depth === 0) {
        try {
          return { value: JSON.parse(text.slice(i, j + 1)), end: j + 1 };
        } catch {
          return undefined;
        }
      }
    }
  }
  return undefined;
}

function asCall(v: unknown, allowed: Set<string> | undefined): RawCall | undefined {
  if (!v || typeof v !== "object" || Array.isArray(v)) return undefined;
  const o = v as Record<string, unknown>;
  const fn = o.function && typeof o.function === "object" ? (o.function as Record<string, unknown>) : o;
  const name = fn.name;
  if (typeof name !== "string" || name === "") return undefined;
  if (!("parameters" in fn) && !("arguments" in fn)) return undefined;
  if (allowed && !allowed.has(name)) return undefined;
  const args = "parameters" in fn ? fn.parameters : "arguments" in fn ? fn.arguments : {};
  let parsedArgs = args;
  if (typeof args === "string") {
    try {
      parsedArgs = JSON.parse(args);
    } catch {
      parsedArgs = args;
    }
  }
  return { name, args: parsedArgs, id: typeof o.id === "string" ? o.id : undefined };
}

// `brave_search.call(query="x", n=3)`: Llama 3.1 built-in tool syntax.
function parseBuiltinCall(text: string): RawCall | undefined {
  const m = /^\s*([A-Za-z_][\w]*)\.call\(([\s\S]*)\)\s*$/.exec(text);
  if (!m) return undefined;
  const args: Record<string, unknown> = {};
  const argRe = /\s*([A-Za-z_]\w*)\s*=\s*("(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'|[^,]+)\s*(?:,|$)/gy;
  const body = m[2]!;
  let consumed = 0;
  for (let a = argRe.exec(body); a; a = argRe.exec(body)) {
    const raw = a[2]!.trim();
    let value: unknown = raw;
    if (raw.startsWith('"')) value = JSON.parse(raw);
    else if (raw.startsWith("'")) value = raw.slice(1, -1).replace(/\\'/g, "'");
    else if (/^-?\d+(\.\d+)?$/.test(raw)) value = Number(raw);
    else if (raw === "True" || raw === "False") value = raw === "True";
    args[a[1]!] = value;
    consumed = argRe.lastIndex;
  }
  if (body.slice(consumed).trim() !== "") return undefined;
  return { name: m[1]!, args };
}

// `<function=name>{"a": 1}</function>`: the format Llama 3.1's docs teach through a system prompt.
function parseFunctionTags(text: string, allowed: Set<string> | undefined): RawCall[] | undefined {
  const calls: RawCall[] = [];
  const re = /\s*<function=([^>]+)>([\s\S]*?)<\/function>\s*/y;
  let pos = 0;
  for (let m = re.exec(text); m; m = re.exec(text)) {
    const r = readJsonValue(m[2]!, 0);
    if (!r || m[2]!.slice(r.end).trim() !== "") return undefined;
    const name = m[1]!.trim();
    if (allowed && !allowed.has(name)) return undefined;
    calls.push({ name, args: r.value });
    pos = re.lastIndex;
  }
  return calls.length && pos === text.length ? calls : undefined;
}

function parseLlama3(text: string, allowed: Set<string> | undefined): RawCall[] | undefined {
  let body = text.trim();
  const tagged = body.startsWith("<|python_tag|>");
  if (tagged) body = body.slice("<|python_tag|>".length).trim();
  if (body.startsWith("<function=")) return parseFunctionTags(body, allowed);
  if (tagged) {
    const builtin = parseBuiltinCall(body);
    if (builtin) return [builtin];
    // code for the built-in interpreter (Environment: ipython), as llama.cpp reports it
    if (!body.startsWith("{")) return [{ name: "python", args: { code: body } }];
  }
  const calls: RawCall[] = [];
  let pos = 0;
  while (pos < body.length) {
    const r = readJsonValue(body, pos);
    if (!r) return undefined;
    const c = asCall(r.value, allowed);
    if (!c) return undefined;
    calls.push(c);
    pos = r.end;
    while (pos < body.length && /[\s;]/.test(body[pos]!)) pos++;
  }
  return calls.length ? calls : undefined;
}

function parseHermes(text: string, allowed: Set<string> | undefined): ParsedReply & { raw: RawCall[] } {
  const raw: RawCall[] = [];
  let content = "";
  let pos = 0;
  for (;;) {
    const open = text.indexOf("<tool_call>", pos);
    if (open < 0) break;
    const r = readJsonValue(text, open + "<tool_call>".length);
    const c = r && asCall(r.value, allowed);
    if (!r || !c) break;
    content += text.slice(pos, open);
    raw.push(c);
    pos = r.end;
    const close = /^\s*<\/tool_call>/.exec(text.slice(pos));
    if (close) pos += close[0].length;
  }
  content += text.slice(pos);
  return { raw, content: content.trim() === "" && raw.length ? null : content, toolCalls: [] };
}

function parseMistral(text: string, allowed: Set<string> | undefined): { raw: RawCall[]; content: string } | undefined {
  const at = text.indexOf("[TOOL_CALLS]");
  if (at < 0) return undefined;
  const r = readJsonValue(text, at + "[TOOL_CALLS]".length);
  if (!r) return undefined;
  const list = Array.isArray(r.value) ? r.value : [r.value];
  const raw = list.map((v) => asCall(v, allowed));
  if (raw.some((c) => !c)) return undefined;
  return { raw: raw as RawCall[], content: text.slice(0, at) };
}

/**
 * Splits a finished reply into content and tool calls. Without a format every known syntax is
 * tried. Text that only looks like a call (bad JSON, unknown tool) stays content.
 */
export function parseToolCalls(text: string, format: ToolCallFormat | undefined, options: ParseOptions = {}): ParsedReply {
  const names = options.tools?.map((t) => t.function.name);
  const allowed = names?.length ? new Set(names) : undefined;
  const formats: ToolCallFormat[] = format ? [format] : ["hermes", "mistral", "llama3"];
  for (const f of formats) {
    if (f === "llama3") {
      const raw = parseLlama3(text, allowed);
      if (raw) return { content: null, toolCalls: toCalls(raw, options) };
    } else if (f === "hermes") {
      const r = parseHermes(text, allowed);
      if (r.raw.length) return { content: r.content, toolCalls: toCalls(r.raw, options) };
    } else {
      const r = parseMistral(text, allowed);
      if (r) return { content: r.content.trim() === "" ? null : r.content, toolCalls: toCalls(r.raw, options) };
    }
  }
  return { content: text, toolCalls: [] };
}
