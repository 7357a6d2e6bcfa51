// Files written by `llamats quantize` and `llamats convert` load in llama.cpp (node-llama-cpp) and
// decode the same greedy tokens there as in llamats.

import { test, after } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { loadModel } from "../../src/index.ts";
import { GgmlType } from "../../src/format/ggml.ts";
import { writeGguf } from "../../src/format/gguf.ts";
import { syntheticLlama } from "../../src/format/synthetic.ts";
import { FileSink } from "../../src/node/file-sink.ts";
import { writeHfLlama } from "../format/hf-llama-folder.ts";
import { greedyTokens } from "../greedy.ts";
import { peerGreedy } from "./llamacpp.ts";

const ROOT = new URL("../../", import.meta.url).pathname;
const cli = (...args: string[]) => spawnSync(process.execPath, [join(ROOT, "bin/llamats.js"), ...args], { encoding: "utf8", cwd: ROOT });
const dir = mkdtempSync(join(tmpdir(), "llamats-peer-cli-"));
after(() => rmSync(dir, { recursive: true, force: true }));

const ourGreedy = (path: string, prompt: number[], n: number) => greedyTokens(path, prompt, n, { contextSize: 64 });

test("a Q4_K_M file from `llamats quantize` loads and generates in llama.cpp like in llamats", async () => {
  const src = join(dir, "f16.gguf");
  const sink = await FileSink.create(src);
  await writeGguf(sink, syntheticLlama({
    vocabSize: 300, dim: 256, layers: 4, heads: 8, kvHeads: 2, ffn: 512, seed: 21,
    type: (_, s) => (s.length === 2 ? GgmlType.F16 : GgmlType.F32),
  }));
  await sink.close();
  const out = join(dir, "q4km.gguf");
  const r = cli("quantize", src, out, "Q4_K_M");
  assert.equal(r.status, 0, r.stderr);
  const prompt = [1, 300 - 5, 42, 77, 123];
  const theirs = await peerGreedy(out, prompt, 10);
  assert.equal(theirs.length, 10);
  assert.ok(new Set(theirs).size > 1, `llama.cpp's greedy output collapsed: ${theirs}`);
  assert.deepEqual(await ourGreedy(out, prompt, 10), theirs);
});

test("a GGUF from `llamats convert` loads in llama.cpp with the same greedy tokens as the HF folder in llamats", async () => {
  const hf = await writeHfLlama(join(dir, "hf"));
  const out = join(dir, "hf.gguf");
  const r = cli("convert", hf, out, "--outtype", "bf16");
  assert.equal(r.status, 0, r.stderr);
  const m = await loadModel(hf, { contextSize: 64 });
  let prompt: number[];
  try {
    prompt = m.tokenize("The quick brown fox");
  } finally {
    await m.dispose();
  }
  const theirs = await peerGreedy(out, prompt, 8);
  assert.deepEqual(await ourGreedy(hf, prompt, 8), theirs);
});
