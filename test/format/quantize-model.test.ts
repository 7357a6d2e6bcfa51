import { test } from "node:test";
import assert from "node:assert/strict";
import { GgmlType, ggmlTypeName } from "../../src/format/ggml.ts";
import { encodeGgufHeader, GgufValueType, MemorySink, readGguf, tensorByteLength, writeGguf } from "../../src/format/gguf.ts";
import type { GgufFile, GgufWriteInput } from "../../src/format/gguf.ts";
import type { TensorInfo } from "../../src/format/model-file.ts";
import { dequantize, quantize } from "../../src/format/quant.ts";
import { parseQuantType, planQuantization, quantizeModel, type QuantTypeName } from "../../src/format/quantize-model.ts";
import { BytesSource } from "../../src/format/source.ts";
import { syntheticLlama } from "../../src/format/synthetic.ts";
import { UserError } from "../../src/errors.ts";

const F16_MATRICES = (_: string, shape: readonly number[]) => (shape.length === 2 ? GgmlType.F16 : GgmlType.F32);

/** The tensor table of a model (no data): what the mixture rules look at. */
function table(input: GgufWriteInput): { metadata: GgufWriteInput["metadata"]; tensors: TensorInfo[] } {
  return {
    metadata: input.metadata,
    tensors: input.tensors.map((t) => ({
      name: t.name, type: t.type, shape: t.shape,
      elements: t.shape.reduce((a, b) => a * b, 1), byteLength: tensorByteLength(t.type, t.shape),
    })),
  };
}

// TinyLlama-1.1B's layer structure (22 layers, 8 query heads per KV head) with small dimensions.
const tiny = syntheticLlama({ vocabSize: 512, dim: 256, layers: 22, heads: 8, kvHeads: 1, ffn: 768, type: F16_MATRICES });

// What llama-quantize (the llama.cpp node-llama-cpp 3.21.1 bundles, called through its C API)
// chose for each tensor of exactly this model, read from its log: per tensor kind, the layers
// bumped to a bigger type; every other layer keeps the mixture's base type.
const LLAMA_CPP: Record<string, { base: string; output: string; embd: string; bumps: Record<string, Record<string, number[]>>; attnOutput?: string }> = {
  Q4_K_M: {
    base: "Q4_K", output: "Q6_K", embd: "Q4_K",
    bumps: { attn_v: { Q6_K: [0, 1, 4, 7, 10, 13, 16, 19, 20, 21] }, ffn_down: { Q6_K: [0, 1, 4, 7, 10, 13, 16, 19, 20, 21] } },
  },
  Q5_K_M: {
    base: "Q5_K", output: "Q6_K", embd: "Q5_K",
    bumps: { attn_v: { Q6_K: [0, 1, 4, 7, 10, 13, 16, 19, 20, 21] }, ffn_down: { Q6_K: [0, 1, 4, 7, 10, 13, 16, 19, 20, 21] } },
  },
  Q3_K_M: {
    base: "Q3_K", output: "Q6_K", embd: "Q3_K", attnOutput: "Q4_K",
    bumps: {
      attn_v: { Q5_K: [0, 1], Q4_K: Array.from({ length: 20 }, (_, i) => i + 2) },
      ffn_down: { Q5_K: [0], Q4_K: Array.from({ length: 21 }, (_, i) => i + 1) },
    },
  },
  Q4_K_S: {
    base: "Q4_K", output: "Q6_K", embd: "Q4_K",
    bumps: { attn_v: { Q5_K: [0, 1, 2, 3] }, ffn_down: { Q5_K: [0, 1] } },
  },
};

function expectedType(q: string, name: string): string {
  const e = LLAMA_CPP[q]!;
  if (name === "output.weight") return e.output;
  if (name === "token_embd.weight") return e.embd;
  const m = /^blk\.(\d+)\.(\w+)\.weight$/.exec(name);
  if (!m) return "F32";
  const [, layer, kind] = m;
  if (kind!.endsWith("_norm")) return "F32";
  if (kind === "attn_output" && e.attnOutput) return e.attnOutput;
  for (const [type, layers] of Object.entries(e.bumps[kind!] ?? {})) if (layers.includes(Number(layer))) return type;
  return e.base;
}

for (const q of ["Q4_K_M", "Q3_K_M", "Q5_K_M", "Q4_K_S"] as const) {
  test(`${q}: every tensor gets the type llama-quantize chose, in llama.cpp's order`, () => {
    const plan = planQuantization(table(tiny), q);
    assert.equal(plan.length, 3 + 22 * 9);
    for (const p of plan) assert.equal(ggmlTypeName(p.to), expectedType(q, p.name), p.name);
    // llama.cpp's loader order: non-block tensors first, then by layer number (not "blk.10" < "blk.2"), then by name.
    assert.deepEqual(plan.slice(0, 5).map((p) => p.name), ["output.weight", "output_norm.weight", "token_embd.weight", "blk.0.attn_k.weight", "blk.0.attn_norm.weight"]);
    assert.equal(plan[3 + 9 * 2]!.name, "blk.2.attn_k.weight");
  });
}

test("output sizes: tensor bytes follow from the expected types (Q4_K_M total equals llama-quantize's file)", () => {
  const plan = planQuantization(table(tiny), "Q4_K_M");
  for (const p of plan) {
    const expected = tensorByteLength(ggmlTypeByNameStrict(expectedType("Q4_K_M", p.name)), p.shape);
    assert.equal(p.bytes, expected, p.name);
  }
  // llama-quantize's Q4_K_M of this model's F16 file is 9,902,624 bytes; header (identical
  // metadata) + aligned tensor data must add up to it.
  const { input } = quantizeModel(fakeFile(tiny), "Q4_K_M");
  const aligned = plan.reduce((a, p) => a + Math.ceil(p.bytes / 32) * 32, 0);
  assert.equal(encodeGgufHeader(input).header.length + aligned, 9_902_624);
});

function ggmlTypeByNameStrict(name: string): GgmlType {
  const t = (GgmlType as Record<string, GgmlType>)[name];
  assert.ok(t !== undefined, name);
  return t;
}

function fakeFile(input: GgufWriteInput) {
  const t = table(input);
  return {
    format: "gguf" as const, name: "synthetic", metadata: t.metadata, metadataTypes: input.metadataTypes, tensors: t.tensors,
    async readTensor(name: string) {
      const w = input.tensors.find((x) => x.name === name)!;
      return typeof w.data === "function" ? await w.data() : w.data;
    },
    async close() {},
  };
}

test("row lengths that do not fit the block size fall back as llama.cpp does", () => {
  const meta = new Map<string, string | number>([["general.architecture", "llama"], ["llama.block_count", 1], ["llama.attention.head_count", 4]]);
  const t = (name: string, shape: number[]): TensorInfo => ({ name, type: GgmlType.F16, shape, elements: shape[0]! * shape[1]!, byteLength: shape[0]! * shape[1]! * 2 });
  const plan = planQuantization({
    metadata: meta,
    tensors: [
      t("token_embd.weight", [96, 300]), t("output.weight", [96, 300]),
      t("blk.0.attn_q.weight", [96, 96]), t("blk.0.ffn_down.weight", [100, 96]), t("blk.0.attn_v.weight", [96, 96]),
    ],
  }, "Q4_K_M");
  const got = Object.fromEntries(plan.map((p) => [p.name, ggmlTypeName(p.to)]));
  assert.deepEqual(got, {
    "output.weight": "Q8_0", // 96 is not a multiple of 256: Q8_0 directly
    "token_embd.weight": "Q5_0", // Q4_K → Q5_0
    "blk.0.attn_q.weight": "Q5_0",
    "blk.0.attn_v.weight": "Q8_0", // bumped to Q6_K (layer 0), then Q6_K → Q8_0
    "blk.0.ffn_down.weight": "F16", // Q6_K → Q8_0 still does not fit rows of 100
  });
  assert.throws(() => planQuantization({ metadata: meta, tensors: [t("blk.0.attn_q.weight", [100, 8])] }, "Q4_0"), /cannot be stored as Q4_0/);
});

test("tied embeddings: token_embd takes output.weight's treatment", () => {
  const tied = syntheticLlama({ vocabSize: 300, dim: 256, layers: 2, heads: 4, ffn: 256, tiedEmbeddings: true, type: F16_MATRICES });
  const plan = planQuantization(table(tied), "Q4_0");
  assert.equal(ggmlTypeName(plan.find((p) => p.name === "token_embd.weight")!.to), "Q6_K");
  const untied = planQuantization(table(syntheticLlama({ vocabSize: 300, dim: 256, layers: 2, heads: 4, ffn: 256, type: F16_MATRICES })), "Q4_0");
  assert.equal(ggmlTypeName(untied.find((p) => p.name === "token_embd.weight")!.to), "Q4_0");
  assert.equal(ggmlTypeName(untied.find((p) => p.name === "output.weight")!.to), "Q6_K");
});

async function quantizedFile(q: QuantTypeName, src: GgufWriteInput): Promise<GgufFile> {
  const sink = new MemorySink();
  const seen: string[] = [];
  const { input } = quantizeModel(fakeFile(src), q, { onTensor: (p) => seen.push(p.name) });
  await writeGguf(sink, input);
  assert.equal(seen.length, src.tensors.length, "progress reported for every tensor");
  return readGguf(new BytesSource(sink.bytes(), "out.gguf"));
}

const small = syntheticLlama({ vocabSize: 300, dim: 256, layers: 2, heads: 4, kvHeads: 2, ffn: 256, seed: 5, type: F16_MATRICES });

for (const [q, type] of [["Q8_0", GgmlType.Q8_0], ["Q4_0", GgmlType.Q4_0]] as const) {
  test(`${q}: tensors are byte-identical to quantize() of the F16 source; metadata carried over`, async () => {
    const out = await quantizedFile(q, small);
    for (const t of small.tensors) {
      const src = typeof t.data === "function" ? await t.data() : t.data;
      const got = await out.readTensor(t.name);
      const n = t.shape.reduce((a, b) => a * b, 1);
      if (t.shape.length === 1) {
        assert.deepEqual(got, src, t.name);
        continue;
      }
      const want = t.name === "output.weight" && q === "Q4_0" ? GgmlType.Q6_K : type;
      assert.equal(out.tensor(t.name)!.type, want, t.name);
      const expected = quantize(want, dequantize(GgmlType.F16, src, n));
      assert.ok(Buffer.from(got).equals(Buffer.from(expected)), `${t.name} bytes differ`);
    }
    assert.equal(out.metadata.get("general.file_type"), q === "Q8_0" ? 7 : 2);
    assert.equal(out.metadata.get("general.quantization_version"), 2);
    const keys = [...out.metadata.keys()];
    assert.deepEqual(keys.slice(-2), ["general.quantization_version", "general.file_type"], "appended last, as llama-quantize does");
    for (const k of ["tokenizer.ggml.tokens", "tokenizer.ggml.scores", "tokenizer.ggml.token_type", "llama.rope.freq_base"]) {
      assert.deepEqual(out.metadata.get(k), small.metadata.get(k), k);
      assert.deepEqual(out.metadataTypes.get(k), small.metadataTypes!.get(k), `${k} keeps its stored type`);
    }
    assert.equal(out.metadataTypes.get("general.file_type")!.type, GgufValueType.U32);
  });
}

test("already-quantized input is refused unless requantizing is allowed; type names are checked", async () => {
  const q8 = await quantizedFile("Q8_0", small);
  assert.throws(() => quantizeModel(q8, "Q4_0"), (e: unknown) => e instanceof UserError && /already Q8_0.*--allow-requantize/.test(e.message));
  assert.doesNotThrow(() => quantizeModel(q8, "Q4_0", { allowRequantize: true }));
  assert.equal(parseQuantType("q4_k_m"), "Q4_K_M");
  assert.throws(() => parseQuantType("Q4_K_L"), /valid: F16, BF16, Q8_0, .*Q6_K/);
});
