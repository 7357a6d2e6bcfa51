// Every GGUF fixture parses, agrees with an independent parser (@huggingface/gguf) on metadata,
// value types and the tensor table, and survives read → write byte for byte.

import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { basename } from "node:path";
import { gguf } from "@huggingface/gguf";
import { ggufWriteInputOf, MemorySink, readGguf, writeGguf } from "../../src/format/gguf.ts";
import { BytesSource } from "../../src/format/source.ts";
import { FileSource } from "../../src/node/file-source.ts";
import { ggufFixtures } from "./fixtures.ts";

const HF_HEADER_KEYS = new Set(["version", "tensor_count", "kv_count"]);

// @huggingface/gguf decodes with a default TextDecoder, which drops a leading U+FEFF; Llama 2's
// vocabulary has a token that is exactly "\uFEFF" (bytes EF BB BF). We keep it (the round-trip
// test below proves it is right), so compare what the reference can represent.
function stripBom(v: unknown): unknown {
  if (typeof v === "string") return v.startsWith("\uFEFF") ? v.slice(1) : v;
  return Array.isArray(v) ? v.map(stripBom) : v;
}

for (const path of ggufFixtures()) {
  test(`${basename(path)}: same metadata and tensors as @huggingface/gguf`, async () => {
    const ref = await gguf(path, { allowLocalFile: true, typedMetadata: true });
    const src = await FileSource.open(path);
    const ours = await readGguf(src);
    try {
      assert.equal(ours.version, ref.typedMetadata.version.value);
      const refEntries = Object.entries(ref.typedMetadata).filter(([k]) => !HF_HEADER_KEYS.has(k));
      assert.deepEqual([...ours.metadata.keys()], refEntries.map(([k]) => k), "keys in file order");
      for (const [key, r] of refEntries as [string, { value: unknown; type: number; subType?: number }][]) {
        assert.deepEqual(stripBom(ours.metadata.get(key)), r.value, key);
        const t = ours.metadataTypes.get(key)!;
        assert.equal(t.type, r.type, `${key} type`);
        assert.equal(t.arrayType, r.subType, `${key} element type`);
      }
      assert.equal(ours.dataOffset, Number(ref.tensorDataOffset));
      assert.equal(ours.tensors.length, ref.tensorInfos.length);
      ours.tensors.forEach((t, i) => {
        const r = ref.tensorInfos[i]!;
        assert.deepEqual(
          { name: t.name, type: t.type, shape: t.shape, offset: t.offset },
          { name: r.name, type: r.dtype as number, shape: r.shape.map(Number), offset: Number(r.offset) },
        );
      });
    } finally {
      await ours.close();
    }
  });

  test(`${basename(path)}: read → write reproduces the file`, async () => {
    const original = new Uint8Array(readFileSync(path));
    const file = await readGguf(new BytesSource(original, path));
    const sink = new MemorySink();
    const { bytes } = await writeGguf(sink, ggufWriteInputOf(file));
    const out = sink.bytes();
    assert.equal(bytes, out.byteLength);
    if (file.tensors.length === 0 && original.byteLength === file.headerEnd) {
      // Some writers leave a tensor-less file unpadded; ours always aligns the (empty) data section.
      assert.ok(out.byteLength - original.byteLength < file.alignment);
      assert.ok(out.subarray(original.byteLength).every((b) => b === 0));
      assert.ok(Buffer.from(out.subarray(0, original.byteLength)).equals(original));
    } else {
      assert.equal(out.byteLength, original.byteLength);
      assert.ok(Buffer.from(out).equals(original), "byte-identical");
    }
    // and the rewritten file parses to the same thing
    const again = await readGguf(new BytesSource(out));
    assert.deepEqual([...again.metadata], [...file.metadata]);
    assert.deepEqual(again.tensors, file.tensors);
  });
}

test("tensor data is read on demand and matches the file bytes", async () => {
  const path = ggufFixtures()[0]!;
  const original = new Uint8Array(readFileSync(path));
  const src = await FileSource.open(path);
  const file = await readGguf(src);
  try {
    for (const t of file.tensors) {
      const data = await file.readTensor(t.name);
      assert.equal(data.byteLength, t.byteLength);
      const at = file.dataOffset + t.offset;
      assert.ok(Buffer.from(data).equals(original.subarray(at, at + t.byteLength)), t.name);
    }
    await assert.rejects(file.readTensor("nope"), /no tensor named "nope"/);
  } finally {
    await file.close();
  }
});

test("Llama 3 vocabulary (128k tokens, 280k merges) parses quickly", async () => {
  const path = ggufFixtures().at(-1)!;
  const bytes = new Uint8Array(readFileSync(path));
  let best = Infinity;
  for (let i = 0; i < 3; i++) {
    const t0 = performance.now();
    const f = await readGguf(new BytesSource(bytes, path));
    best = Math.min(best, performance.now() - t0);
    assert.equal((f.metadata.get("tokenizer.ggml.tokens") as string[]).length, 128256);
    assert.equal((f.metadata.get("tokenizer.ggml.merges") as string[]).length, 280147);
  }
  // Generous for a loaded 2-core CI box; typically ~80 ms.
  assert.ok(best < 1000, `best parse took ${best.toFixed(0)} ms`);
});
