// `llamats tokenize -m FILE (-p TEXT | -f PATH) [--ids] [--no-bos] [--special] [--json]`: the
// tokens of a text, printed like llama.cpp's llama-tokenize (`id -> 'piece'`, or `--ids` as
// `[1, 15043, 3186]`). FILE is a model GGUF, a vocab-only GGUF, or a folder with tokenizer.json.

import type { Command } from "commander";
import { readFile, stat } from "node:fs/promises";
import { join } from "node:path";
import { UserError } from "../errors.ts";
import { hfTokenizerToMetadata } from "../format/hf-tokenizer.ts";
import { openModelFile } from "../node/open.ts";
import { tokenizerFromMetadata } from "../tokenizer/index.ts";
import type { Tokenizer } from "../tokenizer/index.ts";

interface Flags {
  model: string;
  prompt?: string;
  file?: string;
  ids: boolean;
  bos: boolean;
  special: boolean;
  json: boolean;
}

export function register(program: Command): void {
  program
    .command("tokenize")
    .description("print the tokens of a text, as llama.cpp's llama-tokenize does")
    .requiredOption("-m, --model <file>", "model GGUF, vocab-only GGUF, or a folder with tokenizer.json")
    .option("-p, --prompt <text>", "the text to tokenize")
    .option("-f, --file <path>", "read the text from a file")
    .option("--ids", "print only the ids, as a list like [1, 15043, 3186]", false)
    .option("--no-bos", "do not add BOS (or EOS) even when the vocabulary asks for it")
    .option("--special", "parse special tokens written in the text (<|eot_id|>, <s>, …)", false)
    .option("--json", "print a JSON array of {id, piece}", false)
    .addHelpText(
      "after",
      `\nExamples:\n  llamats tokenize -m models/stories260K.gguf -p "Once upon a time"\n  llamats tokenize -m Llama-3.2-1B/ -p "<|start_header_id|>user<|end_header_id|>" --special --ids\n  llamats tokenize -m vocab.gguf -f prompt.txt --no-bos --json\n`,
    )
    .action(async (flags: Flags) => {
      if ((flags.prompt === undefined) === (flags.file === undefined)) throw new UserError("give the text with exactly one of -p TEXT or -f PATH");
      const text = flags.prompt ?? (await readText(flags.file!));
      const tok = await loadTokenizer(flags.model);
      const ids = [...tok.encode(text, { addSpecial: flags.bos, parseSpecial: flags.special })];
      await writeOut(format(tok, ids, flags));
    });
}

function format(tok: Tokenizer, ids: number[], flags: Flags): string {
  if (flags.ids) return `[${ids.join(", ")}]\n`;
  if (flags.json) return `${JSON.stringify(ids.map((id) => ({ id, piece: tok.tokenToPiece(id) })))}\n`;
  return ids.map((id) => `${String(id).padStart(6)} -> '${tok.tokenToPiece(id)}'\n`).join("");
}

async function readText(path: string): Promise<string> {
  try {
    return await readFile(path, "utf8");
  } catch (e) {
    throw new UserError(`${path}: cannot read (${(e as NodeJS.ErrnoException).code ?? String(e)})`);
  }
}

/** A tokenizer from a GGUF (model or vocab only) or from a folder's tokenizer.json. */
export async function loadTokenizer(path: string): Promise<Tokenizer> {
  let isDir = false;
  try {
    isDir = (await stat(path)).isDirectory();
  } catch {
    // openModelFile reports a missing path.
  }
  if (isDir) {
    const json = await readJson(join(path, "tokenizer.json"), true);
    const config = await readJson(join(path, "tokenizer_config.json"), false);
    return tokenizerFromMetadata(hfTokenizerToMetadata(json, config, join(path, "tokenizer.json")), path);
  }
  const model = await openModelFile(path);
  try {
    return tokenizerFromMetadata(model.metadata, model.name);
  } finally {
    await model.close();
  }
}

async function readJson(path: string, required: boolean): Promise<unknown> {
  let text: string;
  try {
    text = await readFile(path, "utf8");
  } catch (e) {
    if (!required && (e as NodeJS.ErrnoException).code === "ENOENT") return undefined;
    throw new UserError(`${path}: cannot read (${(e as NodeJS.ErrnoException).code ?? String(e)})`);
  }
  try {
    return JSON.parse(text);
  } catch (e) {
    throw new UserError(`${path}: not valid JSON (${(e as Error).message})`);
  }
}

function writeOut(s: string): Promise<void> {
  return new Promise((resolve, reject) => {
    process.stdout.write(s, (e) => (e && (e as NodeJS.ErrnoException).code !== "EPIPE" ? reject(e) : resolve()));
  });
}
