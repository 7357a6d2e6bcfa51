// The GGUF fixture files shared by the format tests; the gzipped Llama 3 vocabulary is unpacked
// once into a temp folder so that every parser (ours and @huggingface/gguf) can open it by path.

import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { gunzipSync } from "node:zlib";

import { FIXTURES as ROOT } from "../fixtures-path.ts";

/** The fixtures folder, without a trailing slash. */
export const FIXTURES = ROOT.replace(/\/$/, "");

const plain = [
  "models/stories260K.gguf",
  "models/llama-2-tiny-random.gguf",
  "models/quantized/stories260K-f16.gguf",
  "models/quantized/stories260K-q5_0-mix.gguf",
  "models/quantized/stories260K-q5_1-mix.gguf",
  "models/quantized/stories260K-q8_0-mix.gguf",
  "tokenizer/llama-spm/ggml-vocab-llama-spm.gguf",
];

/** Absolute paths of every GGUF fixture, the Llama 3 vocabulary included (unpacked on first use). */
export function ggufFixtures(): string[] {
  return [...plain.map((p) => join(FIXTURES, p)), llama3VocabPath()];
}

export function llama3VocabPath(): string {
  const dir = join(tmpdir(), "llamats-test-fixtures");
  const out = join(dir, "ggml-vocab-llama3-bpe.derived.gguf");
  if (!existsSync(out)) {
    mkdirSync(dir, { recursive: true });
    const bytes = gunzipSync(readFileSync(join(FIXTURES, "tokenizer/llama-bpe/ggml-vocab-llama3-bpe.derived.gguf.gz")));
    const tmp = `${out}.${process.pid}.tmp`;
    writeFileSync(tmp, bytes);
    // rename is atomic, so parallel test files never see a half-written file
    renameSync(tmp, out);
  }
  return out;
}
