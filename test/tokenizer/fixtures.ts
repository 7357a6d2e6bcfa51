// Shared loaders for the tokenizer tests: vocabularies from the fixture GGUF files and the Llama 3
// tokenizer.json, each built once per test process.

import { readFileSync } from "node:fs";
import { gunzipSync } from "node:zlib";
import { readGguf } from "../../src/format/gguf.ts";
import { hfTokenizerToMetadata } from "../../src/format/hf-tokenizer.ts";
import type { MetaValue } from "../../src/format/model-file.ts";
import { BytesSource } from "../../src/format/source.ts";
import { tokenizerFromMetadata } from "../../src/tokenizer/index.ts";
import type { Tokenizer } from "../../src/tokenizer/index.ts";
import { FIXTURES_URL } from "../fixtures-path.ts";


export function fixturePath(rel: string): string {
  return fixtureRoot() + rel;
}

function fixtureRoot(): string {
  // The fixtures live next to the repository (../shared/fixtures from the repo root).
  return FIXTURES_URL.pathname;
}

export function readFixture(rel: string): Uint8Array {
  const b = readFileSync(fixturePath(rel));
  return new Uint8Array(rel.endsWith(".gz") ? gunzipSync(b) : b);
}

export function readJson<T = any>(rel: string): T {
  return JSON.parse(new TextDecoder().decode(readFixture(rel))) as T;
}

const metaCache = new Map<string, Promise<ReadonlyMap<string, MetaValue>>>();
export function ggufMetadata(rel: string): Promise<ReadonlyMap<string, MetaValue>> {
  let p = metaCache.get(rel);
  if (!p) {
    p = readGguf(new BytesSource(readFixture(rel), rel)).then((g) => g.metadata);
    metaCache.set(rel, p);
  }
  return p;
}

const tokCache = new Map<string, Promise<Tokenizer>>();
function cached(key: string, make: () => Promise<Tokenizer>): Promise<Tokenizer> {
  let p = tokCache.get(key);
  if (!p) {
    p = make();
    tokCache.set(key, p);
  }
  return p;
}

export const SPM_GGUF = "tokenizer/llama-spm/ggml-vocab-llama-spm.gguf";
export const BPE_GGUF = "tokenizer/llama-bpe/ggml-vocab-llama3-bpe.derived.gguf.gz";
export const STORIES_GGUF = "models/stories260K.gguf";

export function ggufTokenizer(rel: string): Promise<Tokenizer> {
  return cached(rel, async () => tokenizerFromMetadata(await ggufMetadata(rel), rel));
}

export function llama3TokenizerJson(): { json: any; config: any } {
  return {
    json: readJson("tokenizer/llama3/tokenizer.json.gz"),
    config: readJson("tokenizer/llama3/tokenizer_config.json"),
  };
}

export function llama3FromTokenizerJson(): Promise<Tokenizer> {
  return cached("hf:llama3", async () => {
    const { json, config } = llama3TokenizerJson();
    return tokenizerFromMetadata(hfTokenizerToMetadata(json, config), "tokenizer.json");
  });
}

/** llama.cpp's vocab-test format: inputs split by a marker line, one line of ids per input. */
export function llamaCppVectors(base: string): { text: string; ids: number[] }[] {
  const inp = new TextDecoder().decode(readFixture(base + ".inp")).split("\n__ggml_vocab_test__\n");
  inp.pop();
  const out = new TextDecoder().decode(readFixture(base + ".out")).split("\n");
  return inp.map((text, i) => {
    const line = out[i]!.trim();
    return { text, ids: line === "" ? [] : line.split(/\s+/).map(Number) };
  });
}
