// A synthetic model from our GGUF writer is a model llama.cpp (via node-llama-cpp) loads and runs.

import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { getLlama, LlamaLogLevel } from "node-llama-cpp";
import { GgmlType } from "../../src/format/ggml.ts";
import { writeGguf } from "../../src/format/gguf.ts";
import { quantize } from "../../src/format/quant.ts";
import { syntheticLlama } from "../../src/format/synthetic.ts";
import { FileSink } from "../../src/node/file-sink.ts";

test("node-llama-cpp loads a synthetic llama model and decodes greedily", async () => {
  const dir = mkdtempSync(join(tmpdir(), "llamats-synth-"));
  try {
    const path = join(dir, "synthetic.gguf");
    const vocabSize = 320;
    const sink = await FileSink.create(path);
    // Mixed types exercise the F16 path and GQA (4 heads sharing 2 KV heads).
    await writeGguf(sink, syntheticLlama({
      vocabSize, dim: 64, layers: 2, heads: 4, kvHeads: 2, ffn: 96, seed: 7,
      type: (name, shape) => (shape.length === 2 && name.startsWith("blk.") ? GgmlType.F16 : GgmlType.F32),
    }));
    await sink.close();

    const llama = await getLlama({ gpu: false, build: "never", logLevel: LlamaLogLevel.error });
    const model = await llama.loadModel({ modelPath: path });
    try {
      assert.equal(model.fileInfo.metadata.general.architecture, "llama");
      const prompt = model.tokenize("hello world");
      assert.ok(prompt.length > 0);
      for (const t of prompt) assert.ok(t >= 0 && t < vocabSize);
      assert.equal(model.detokenize(prompt), "hello world");
      const context = await model.createContext({ contextSize: 64 });
      const seq = context.getSequence();
      const out: number[] = [];
      for await (const t of seq.evaluate([model.tokens.bos!, ...prompt], { temperature: 0 })) {
        out.push(t);
        if (out.length === 8) break;
      }
      assert.equal(out.length, 8);
      for (const t of out) assert.ok(Number.isInteger(t) && t >= 0 && t < vocabSize, `token ${t}`);
      assert.ok(new Set(out).size > 1, `greedy output collapsed to one token: ${out.join(" ")}`);
      await context.dispose();
    } finally {
      await model.dispose();
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("node-llama-cpp runs a synthetic model with block-quantized weights (Q8_0, Q4_K, Q6_K)", async () => {
  const dir = mkdtempSync(join(tmpdir(), "llamats-synth-"));
  try {
    const path = join(dir, "synthetic-q.gguf");
    const vocabSize = 300;
    const sink = await FileSink.create(path);
    await writeGguf(sink, syntheticLlama({
      vocabSize, dim: 256, layers: 1, heads: 4, kvHeads: 2, ffn: 256, seed: 3, quantize,
      type: (name, shape) => shape.length === 1 ? GgmlType.F32
        : name.includes("attn") ? GgmlType.Q4_K : name.includes("ffn") ? GgmlType.Q6_K : GgmlType.Q8_0,
    }));
    await sink.close();
    const llama = await getLlama({ gpu: false, build: "never", logLevel: LlamaLogLevel.error });
    const model = await llama.loadModel({ modelPath: path });
    try {
      const context = await model.createContext({ contextSize: 32 });
      const out: number[] = [];
      for await (const t of context.getSequence().evaluate([model.tokens.bos!, ...model.tokenize("abc")], { temperature: 0 })) {
        out.push(t);
        if (out.length === 4) break;
      }
      assert.equal(out.length, 4);
      for (const t of out) assert.ok(Number.isInteger(t) && t >= 0 && t < vocabSize, `token ${t}`);
      await context.dispose();
    } finally {
      await model.dispose();
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
