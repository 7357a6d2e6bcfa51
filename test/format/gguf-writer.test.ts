import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { GgmlType } from "../../src/format/ggml.ts";
import { GgufValueType as V, inferGgufType, MemorySink, readGguf, writeGguf } from "../../src/format/gguf.ts";
import type { GgufType } from "../../src/format/gguf.ts";
import type { MetaValue } from "../../src/format/model-file.ts";
import { BytesSource } from "../../src/format/source.ts";
import { FileSink } from "../../src/node/file-sink.ts";
import { FileSource } from "../../src/node/file-source.ts";

const entries: [string, MetaValue, GgufType][] = [
  ["u8", 255, { type: V.U8 }],
  ["i8", -128, { type: V.I8 }],
  ["u16", 65535, { type: V.U16 }],
  ["i16", -32768, { type: V.I16 }],
  ["u32", 4294967295, { type: V.U32 }],
  ["i32", -2147483648, { type: V.I32 }],
  ["f32", 0.5, { type: V.F32 }],
  ["f64", Math.PI, { type: V.F64 }],
  ["bool", false, { type: V.BOOL }],
  ["str", "日本語 🦙", { type: V.STRING }],
  ["u64", 2n ** 64n - 1n, { type: V.U64 }],
  ["i64", -(2n ** 63n), { type: V.I64 }],
  ["empty", [], { type: V.ARRAY, arrayType: V.F32 }],
  ["arr", [1, 2, 3], { type: V.ARRAY, arrayType: V.I16 }],
  ["nested", [["a"], [true, false]], { type: V.ARRAY, arrayType: V.ARRAY, elements: [{ type: V.ARRAY, arrayType: V.STRING }, { type: V.ARRAY, arrayType: V.BOOL }] }],
];

test("every value type is written with its stored type and read back", async () => {
  const sink = new MemorySink();
  await writeGguf(sink, {
    metadata: new Map(entries.map(([k, v]) => [k, v])),
    metadataTypes: new Map(entries.map(([k, , t]) => [k, t])),
    tensors: [],
  });
  const f = await readGguf(new BytesSource(sink.bytes()));
  assert.equal(f.version, 3);
  for (const [k, v, t] of entries) {
    assert.deepEqual(f.metadata.get(k), v, k);
    assert.deepEqual(f.metadataTypes.get(k), t, k);
  }
});

test("types are inferred for keys without one", () => {
  assert.deepEqual(inferGgufType("x"), { type: V.STRING });
  assert.deepEqual(inferGgufType(7), { type: V.U32 });
  assert.deepEqual(inferGgufType(-7), { type: V.I32 });
  assert.deepEqual(inferGgufType(1.5), { type: V.F32 });
  assert.deepEqual(inferGgufType(2 ** 40), { type: V.U64 });
  assert.deepEqual(inferGgufType(5n), { type: V.U64 });
  assert.deepEqual(inferGgufType(-5n), { type: V.I64 });
  assert.deepEqual(inferGgufType([1, -2]), { type: V.ARRAY, arrayType: V.I32 });
  assert.deepEqual(inferGgufType([1, 2.5]), { type: V.ARRAY, arrayType: V.F32 });
  assert.deepEqual(inferGgufType(["a"]), { type: V.ARRAY, arrayType: V.STRING });
});

test("values that do not fit their type are refused", async () => {
  const write = (v: MetaValue, t: GgufType) => writeGguf(new MemorySink(), { metadata: new Map([["k", v]]), metadataTypes: new Map([["k", t]]), tensors: [] });
  await assert.rejects(write(256, { type: V.U8 }), TypeError);
  await assert.rejects(write(-1, { type: V.U32 }), TypeError);
  await assert.rejects(write(1.5, { type: V.I32 }), TypeError);
  await assert.rejects(write("x", { type: V.F32 }), TypeError);
  await assert.rejects(write(-1n, { type: V.U64 }), TypeError);
  await assert.rejects(write(1, { type: V.STRING }), TypeError);
});

test("tensors are aligned and padded; data may come from callbacks; wrong sizes are refused", async () => {
  const a = new Uint8Array(7 * 4).fill(1);
  const b = new Uint8Array(2 * 34).fill(2);
  const sink = new MemorySink();
  let called = 0;
  await writeGguf(sink, {
    metadata: new Map<string, MetaValue>([["general.alignment", 64]]),
    metadataTypes: new Map([["general.alignment", { type: V.U32 }]]),
    tensors: [
      { name: "a", type: GgmlType.F32, shape: [7], data: a },
      { name: "b", type: GgmlType.Q8_0, shape: [32, 2], data: async () => (called++, b) },
    ],
  });
  assert.equal(called, 1);
  const bytes = sink.bytes();
  assert.equal(bytes.byteLength % 64, 0);
  const f = await readGguf(new BytesSource(bytes));
  assert.equal(f.alignment, 64);
  assert.equal(f.dataOffset % 64, 0);
  assert.deepEqual(f.tensors.map((t) => t.offset), [0, 64]);
  assert.deepEqual(await f.readTensor("a"), a);
  assert.deepEqual(await f.readTensor("b"), b);
  await assert.rejects(
    writeGguf(new MemorySink(), { metadata: new Map(), tensors: [{ name: "a", type: GgmlType.F32, shape: [8], data: a }] }),
    /has 28 bytes, expected 32/,
  );
  await assert.rejects(
    writeGguf(new MemorySink(), { metadata: new Map(), tensors: [{ name: "q", type: GgmlType.Q8_0, shape: [33], data: b }] }),
    /not a multiple of the Q8_0 block size/,
  );
});

test("FileSink and FileSource: write a file, read it back", async () => {
  const dir = mkdtempSync(join(tmpdir(), "llamats-writer-"));
  try {
    const path = join(dir, "x.gguf");
    const sink = await FileSink.create(path);
    const data = new Uint8Array(4096 * 4).map((_, i) => i & 0xff);
    await writeGguf(sink, { metadata: new Map([["general.name", "x"]]), tensors: [{ name: "w", type: GgmlType.F32, shape: [64, 64], data }] });
    await sink.close();
    assert.equal(statSync(path).size, sink.bytesWritten);
    const src = await FileSource.open(path);
    const f = await readGguf(src);
    assert.deepEqual(await f.readTensor("w"), data);
    assert.deepEqual(await src.read(0, 4), new Uint8Array(readFileSync(path).subarray(0, 4)));
    await assert.rejects(src.read(src.size - 2, 4), RangeError);
    await f.close();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
