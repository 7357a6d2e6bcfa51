// Where a model keeps its chat template and turn-ending tokens: GGUF metadata
// (`tokenizer.chat_template`, `tokenizer.chat_template.<name>`) or a Hugging Face folder
// (`chat_template.jinja`, else `tokenizer_config.json`'s `chat_template`, a string or a list of
// named templates). Callers read the files; this module only picks from their contents.

import type { MetaValue } from "../format/model-file.ts";

/** The template named `name` ("default", "tool_use", …) from GGUF metadata, or undefined. */
export function chatTemplateFromMetadata(metadata: ReadonlyMap<string, MetaValue>, name?: string): string | undefined {
  const key = !name || name === "default" ? "tokenizer.chat_template" : `tokenizer.chat_template.${name}`;
  const v = metadata.get(key);
  return typeof v === "string" && v.length > 0 ? v : undefined;
}

/** Names of the extra templates a GGUF carries (`tokenizer.chat_templates`, e.g. ["tool_use", "rag"]). */
export function chatTemplateNames(metadata: ReadonlyMap<string, MetaValue>): string[] {
  const v = metadata.get("tokenizer.chat_templates");
  return Array.isArray(v) ? v.filter((x): x is string => typeof x === "string") : [];
}

type TokenizerConfig = Record<string, unknown>;

/**
 * The template of a Hugging Face folder. A separate chat_template.jinja wins over the config, as in
 * transformers. A list of named templates gives the one named `name`, else "default".
 */
export function chatTemplateFromHf(config: TokenizerConfig | undefined, jinjaFile?: string, name?: string): string | undefined {
  if (jinjaFile && (!name || name === "default")) return jinjaFile;
  const t = config?.chat_template;
  if (typeof t === "string") return !name || name === "default" ? t : undefined;
  if (Array.isArray(t)) {
    const want = name ?? "default";
    for (const entry of t) {
      if (entry && typeof entry === "object" && (entry as { name?: unknown }).name === want) {
        const text = (entry as { template?: unknown }).template;
        if (typeof text === "string") return text;
      }
    }
  }
  return jinjaFile;
}

/** A special-token field of tokenizer_config.json: a string or an AddedToken object `{ content }`. */
export function hfSpecialToken(config: TokenizerConfig | undefined, field: "bos_token" | "eos_token" | "pad_token" | "unk_token"): string | undefined {
  const v = config?.[field];
  if (typeof v === "string") return v;
  if (v && typeof v === "object" && typeof (v as { content?: unknown }).content === "string") return (v as { content: string }).content;
  return undefined;
}

// Turn-ending pieces seen in Llama-family and common chat templates. A template that writes one of
// these closes the assistant turn with it, so generation must stop there even when the file's
// eos id is a different token (Llama 3 files say eos = <|end_of_text|>, turns end in <|eot_id|>).
const END_OF_TURN_PIECES = [
  "<|eot_id|>", "<|eom_id|>", "<|im_end|>", "<|end|>", "<end_of_turn>", "<|END_OF_TURN_TOKEN|>",
  "<|end_of_turn|>", "<｜end▁of▁sentence｜>", "<|endoftext|>", "<|end_of_text|>",
];

/** Stop pieces for a template: the known end-of-turn markers it contains, plus the eos token. */
export function endOfTurnPieces(template: string | undefined, eosToken: string | undefined): string[] {
  const out = new Set<string>();
  if (template) for (const p of END_OF_TURN_PIECES) if (template.includes(p)) out.add(p);
  if (eosToken) out.add(eosToken);
  return [...out];
}
