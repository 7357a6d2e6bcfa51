// The sampler chain against llama.cpp (node-llama-cpp): llama.cpp generates on stories260K with
// its own sampler, then we replay its per-position distributions (log-probabilities are the
// logits up to a constant, which top-k/top-p/min-p/temperature/draw do not see) through our
// chain with the same seed and must pick the same tokens.

import { test } from "node:test";
import assert from "node:assert/strict";
import { peer } from "./llamacpp.ts";
import { createSampler, type SamplerParams } from "../../src/sample/sampler.ts";
import { FIXTURES_URL } from "../fixtures-path.ts";

const MODEL = new URL("models/stories260K.gguf", FIXTURES_URL).pathname;

test("llama.cpp's tokens come out of our chain given its distributions (greedy and seeded)", async () => {
  const llama = await peer();
  const model = await llama.loadModel({ modelPath: MODEL });
  // one thread: the test machine is shared, and ggml's spinning threads crawl when contended
  const ctx = await model.createContext({ contextSize: 256, batchSize: 64, sequences: 6, threads: 1 });
  const prompt = [1, ...model.tokenize("Once upon a time")];
  const N = 30;

  const cases: Array<{ name: string; llama: Record<string, number>; ours: SamplerParams }> = [
    { name: "greedy", llama: { temperature: 0 }, ours: { temperature: 0 } },
    { name: "seed 42, T 0.8, top-k 40, top-p 0.95, min-p 0.05", llama: { temperature: 0.8, topK: 40, topP: 0.95, minP: 0.05, seed: 42 }, ours: { temperature: 0.8, topK: 40, topP: 0.95, minP: 0.05, seed: 42 } },
    { name: "seed 7, T 1.5, top-k 0 (all), top-p 0.9", llama: { temperature: 1.5, topK: 0, topP: 0.9, seed: 7 }, ours: { temperature: 1.5, topK: 0, topP: 0.9, minP: 0, seed: 7 } },
  ];
  try {
    for (const c of cases) {
      const seq = ctx.getSequence();
      const theirs: number[] = [];
      for await (const t of seq.evaluate(prompt as never, c.llama)) {
        theirs.push(t);
        if (theirs.length >= N) break;
      }
      const replay = ctx.getSequence();
      const input = [
        ...prompt.slice(0, -1),
        ...[prompt.at(-1)!, ...theirs.slice(0, -1)].map((t) => [t, { generateNext: { probabilities: true } }] as [number, { generateNext: { probabilities: true } }]),
      ];
      const res = await replay.controlledEvaluate(input as never);
      const dists = res.filter((r) => r?.next?.probabilities).map((r) => r!.next!.probabilities!);
      assert.equal(dists.length, N);
      const sampler = createSampler(c.ours);
      const ours: number[] = [];
      for (const d of dists) {
        const logits = new Float32Array(512).fill(-Infinity);
        for (const [tok, p] of d) logits[tok] = Math.log(p);
        ours.push(sampler.sample(logits));
      }
      assert.deepEqual(ours, theirs, c.name);
    }
  } finally {
    await ctx.dispose();
    await model.dispose();
  }
});
