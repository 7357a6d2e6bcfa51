// `npm run fuzz:long [cases] [seed]`: the GGUF fuzz contract over 10^5 mutations (default) of
// every GGUF fixture, with a summary. A violation prints the case seed to reproduce it.

import { join } from "node:path";
import { corpus, fuzz } from "./gguf-fuzz-lib.ts";
import { FIXTURES, llama3VocabPath } from "./fixtures.ts";

const cases = Number(process.argv[2] ?? 100_000);
const seed = Number(process.argv[3] ?? Date.now() % 2 ** 31);
const files = [
  "models/stories260K.gguf",
  "models/quantized/stories260K-f16.gguf",
  "models/quantized/stories260K-q5_0-mix.gguf",
  "models/quantized/stories260K-q5_1-mix.gguf",
  "models/quantized/stories260K-q8_0-mix.gguf",
  "models/llama-2-tiny-random.gguf",
  "tokenizer/llama-spm/ggml-vocab-llama-spm.gguf",
].map((p) => join(FIXTURES, p));
const corpora = [...files, llama3VocabPath()].map(corpus);
// The big vocabularies are slow per case; weight them down.
const weights = [4, 4, 4, 4, 4, 1, 1, 0.1];
console.log(`fuzz:long: ${cases} cases, seed ${seed}`);
const report = await fuzz(corpora, cases, seed, weights);
console.log(JSON.stringify({ ...report, ms: Math.round(report.ms), maxCaseMs: Math.round(report.maxCaseMs) }, null, 2));
console.log(`OK: ${report.cases} cases, ${report.parsed} parsed, ${report.errors} GgufError, ${(report.ms / 1000).toFixed(1)} s`);
