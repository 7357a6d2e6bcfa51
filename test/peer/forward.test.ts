// Our forward pass against llama.cpp (node-llama-cpp 3.21.1, CPU) on synthetic random-weight
// models written by our GGUF writer, in every weight type: the same 32 greedy tokens, and
// next-token probabilities close at every step.

import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdirSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { GgmlType } from "../../src/format/ggml.ts";
import { syntheticLlama } from "../../src/format/synthetic.ts";
import { writeGguf } from "../../src/format/gguf.ts";
import { quantize } from "../../src/format/quant.ts";
import { FileSink } from "../../src/node/file-sink.ts";
import { loadModel } from "../../src/index.ts";
import { argmax, peerProbabilities, softmax } from "./llamacpp.ts";

const dir = join(tmpdir(), `llamats-peer-${process.pid}`);
mkdirSync(dir, { recursive: true });

const TYPES = ["F32", "F16", "BF16", "Q8_0", "Q4_0", "Q4_1", "Q5_0", "Q5_1", "Q2_K", "Q3_K", "Q4_K", "Q5_K", "Q6_K", "IQ4_NL", "IQ4_XS"] as const;
const GENERATE = 32;

async function writeModel(name: string, type: GgmlType, tied: boolean): Promise<string> {
  const path = join(dir, `${name}.gguf`);
  const input = syntheticLlama({
    vocabSize: 512, dim: 256, layers: 2, heads: 4, kvHeads: 2, ffn: 512, tiedEmbeddings: tied,
    type, quantize, seed: 7, std: 0.08,
  });
  const sink = await FileSink.create(path);
  await writeGguf(sink, input);
  await sink.close();
  return path;
}

const report: string[] = [];

for (const typeName of TYPES) {
  for (const tied of typeName === "Q8_0" || typeName === "F16" ? [false, true] : [false]) {
    const label = `${typeName}${tied ? " (tied embeddings)" : ""}`;
    test(`llama.cpp parity: ${label}`, async () => {
      const type = GgmlType[typeName];
      const path = await writeModel(`${typeName}${tied ? "-tied" : ""}`, type, tied);
      const model = await loadModel(path, { contextSize: 256, kvType: "f16" });
      let ours: number[];
      let prompt: number[];
      const ourProbs: Float64Array[] = [];
      try {
        prompt = model.tokenize("the quick brown fox jumps over the lazy dog");
        const s = model.createSession();
        let logits = await s.evaluate(prompt);
        ours = [];
        for (let i = 0; i < GENERATE; i++) {
          ourProbs.push(softmax(logits));
          const t = argmax(logits);
          ours.push(t);
          if (i + 1 < GENERATE) logits = await s.evaluate([t]);
        }
      } finally {
        await model.dispose();
      }
      // Teacher-forced on our tokens: llama.cpp's argmax after each must be our next token.
      const theirs = await peerProbabilities(path, 512, [...prompt, ...ours.slice(0, -1)], prompt.length - 1);
      let worst = 0;
      for (let i = 0; i < GENERATE; i++) {
        const t = argmax(theirs[i]!), o = ours[i]!;
        assert.equal(t, o, `${label}: token ${i} differs: llama.cpp p(${t})=${theirs[i]![t]} p(${o})=${theirs[i]![o]}; ours p(${t})=${ourProbs[i]![t]} p(${o})=${ourProbs[i]![o]}`);
        for (let v = 0; v < 512; v++) worst = Math.max(worst, Math.abs(theirs[i]![v]! - ourProbs[i]![v]!));
      }
      report.push(`${label.padEnd(24)} max |Δp| = ${worst.toExponential(2)}`);
      assert.ok(worst < 0.02, `${label}: probabilities differ by up to ${worst}`);
    });
  }
}

test.after(() => {
  if (report.length) console.log(`# llama.cpp parity, ${GENERATE} greedy tokens each:\n# ${report.join("\n# ")}`);
});
