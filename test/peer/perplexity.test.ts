// Perplexity by llama.cpp's method, ours against the same computation on llama.cpp's own
// next-token probabilities (node-llama-cpp) for the same file, text and chunking.

import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { loadModel } from "../../src/index.ts";
import { perplexity } from "../../src/engine/perplexity.ts";
import { peerProbabilities } from "./llamacpp.ts";
import { FIXTURES_URL } from "../fixtures-path.ts";

const FIX = new URL("models/", FIXTURES_URL);
const MODEL = new URL("../../models/stories260K.gguf", import.meta.url).pathname;
const expected = JSON.parse(readFileSync(new URL("stories260K.expected.json", FIX), "utf8"));
const TEXT: string = expected.cases.map((c: { stdout_text: string }) => c.stdout_text).join("\n");

test("perplexity within 0.5% of the value from llama.cpp's probabilities", async () => {
  const nCtx = 64;
  const model = await loadModel(MODEL, { contextSize: nCtx, kvType: "f16" });
  let ours: Awaited<ReturnType<typeof perplexity>>;
  let tokens: number[];
  try {
    ours = await perplexity(model, TEXT, { nCtx });
    tokens = model.tokenize(TEXT);
  } finally {
    await model.dispose();
  }
  assert.ok(ours.chunks >= 2);
  // The same chunks through llama.cpp: BOS first, the second half scored.
  let nll = 0, count = 0;
  const first = nCtx / 2;
  for (let c = 0; c < ours.chunks; c++) {
    const chunk = tokens.slice(c * nCtx, (c + 1) * nCtx);
    chunk[0] = 1;
    const probs = await peerProbabilities(MODEL, 512, chunk.slice(0, nCtx - 1), first, { contextSize: nCtx, batch: "all" });
    for (let j = first; j < nCtx - 1; j++) {
      nll -= Math.log(probs[j - first]![chunk[j + 1]!]!);
      count++;
    }
  }
  assert.equal(count, ours.scoredTokens);
  const theirs = Math.exp(nll / count);
  const rel = Math.abs(ours.ppl - theirs) / theirs;
  console.log(`# perplexity: ours ${ours.ppl.toFixed(4)}, llama.cpp probabilities ${theirs.toFixed(4)}, relative difference ${(rel * 100).toFixed(4)}%`);
  assert.ok(rel < 0.005, `ours ${ours.ppl}, llama.cpp ${theirs}`);
});
