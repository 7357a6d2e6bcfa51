// Malformed GGUF files, one class of damage at a time: each must give a GgufError (a UserError)
// naming the file, the problem and the byte offset — never a RangeError, a hang or a huge allocation.

import { test } from "node:test";
import assert from "node:assert/strict";
import { UserError } from "../../src/errors.ts";
import { GgmlType } from "../../src/format/ggml.ts";
import { GgufError, GgufValueType as V, readGguf } from "../../src/format/gguf.ts";
import { BytesSource } from "../../src/format/source.ts";

/** Little-endian byte assembler, independent of the writer under test. */
class B {
  bytes: number[] = [];
  get length(): number {
    return this.bytes.length;
  }
  u8(v: number): this {
    this.bytes.push(v & 0xff);
    return this;
  }
  u32(v: number): this {
    for (let i = 0; i < 4; i++) this.bytes.push((v >>> (8 * i)) & 0xff);
    return this;
  }
  u64(v: number | bigint): this {
    const x = BigInt.asUintN(64, BigInt(v));
    for (let i = 0n; i < 8n; i++) this.bytes.push(Number((x >> (8n * i)) & 0xffn));
    return this;
  }
  raw(b: ArrayLike<number>): this {
    for (let i = 0; i < b.length; i++) this.bytes.push(b[i]!);
    return this;
  }
  str(s: string | Uint8Array): this {
    const b = typeof s === "string" ? new TextEncoder().encode(s) : s;
    return this.u64(b.length).raw(b);
  }
  pad(align = 32): this {
    while (this.bytes.length % align) this.bytes.push(0);
    return this;
  }
  done(): Uint8Array {
    return new Uint8Array(this.bytes);
  }
}

function header(b: B, tensors: number | bigint, kvs: number | bigint, version = 3): B {
  return b.raw([0x47, 0x47, 0x55, 0x46]).u32(version).u64(tensors).u64(kvs);
}

/** A valid file: two metadata keys and two F32 tensors of 8 floats. */
function valid(): Uint8Array {
  const b = header(new B(), 2, 2);
  b.str("general.architecture").u32(V.STRING).str("llama");
  b.str("a.list").u32(V.ARRAY).u32(V.U32).u64(3).u32(1).u32(2).u32(3);
  b.str("t0").u32(1).u64(8).u32(GgmlType.F32).u64(0);
  b.str("t1").u32(2).u64(4).u64(2).u32(GgmlType.F32).u64(32);
  b.pad();
  return b.raw(new Uint8Array(64)).done();
}

async function rejects(bytes: Uint8Array, pattern: RegExp, offset?: number): Promise<GgufError> {
  try {
    await readGguf(new BytesSource(bytes, "bad.gguf"));
  } catch (e) {
    assert.ok(e instanceof GgufError, `expected GgufError, got ${String(e)}`);
    assert.ok(e instanceof UserError);
    assert.match(e.message, /^bad\.gguf: /);
    assert.match(e.message, pattern);
    assert.match(e.message, /at byte offset \d+\)$/);
    assert.doesNotMatch(e.message, /\n/);
    if (offset !== undefined) assert.equal(e.offset, offset, e.message);
    return e;
  }
  assert.fail(`parsed, but expected an error matching ${pattern}`);
}

/** One metadata entry of the given raw encoding, no tensors. */
function withKv(fill: (b: B) => void, count = 1): Uint8Array {
  const b = header(new B(), 0, count);
  fill(b);
  return b.done();
}

/** One tensor info of the given raw encoding after a minimal metadata block, plus 256 bytes of data. */
function withTensor(fill: (b: B) => void, count = 1, data = 256): Uint8Array {
  const b = header(new B(), count, 0);
  fill(b);
  return b.pad().raw(new Uint8Array(data)).done();
}

test("the valid base file parses", async () => {
  const f = await readGguf(new BytesSource(valid()));
  assert.deepEqual(f.metadata.get("a.list"), [1, 2, 3]);
  assert.deepEqual(f.tensors.map((t) => t.shape), [[8], [4, 2]]);
});

test("wrong magic, unknown or unsupported versions", async () => {
  const bytes = valid();
  bytes[0] = 0x50;
  await rejects(bytes, /not a GGUF file: magic is "PGUF"/, 0);
  await rejects(new Uint8Array([1, 2]), /not a GGUF file/, 0);
  await rejects(header(new B(), 0, 0, 1).done(), /version 1 is not supported/, 4);
  await rejects(header(new B(), 0, 0, 77).done(), /unknown GGUF version 77/, 4);
  await rejects(header(new B(), 0, 0, 0x03000000).done(), /big-endian/, 4);
});

test("truncation at every byte of the header and inside tensor data", async () => {
  const bytes = valid();
  for (let n = 0; n < bytes.length; n++) {
    await rejects(bytes.subarray(0, n), /truncated|not a GGUF|beyond the end|bytes remain|more than/);
  }
});

test("counts and lengths larger than the file", async () => {
  await rejects(header(new B(), 0, 1n << 40n).done(), /metadata count 1099511627776 is more than/, 16);
  await rejects(header(new B(), 0, -1).done(), /metadata count ≥ 2\^53/, 16);
  await rejects(header(new B(), 1n << 33n, 0).done(), /tensor count 8589934592/, 8);
  // key length
  await rejects(withKv((b) => b.u64(1_000_000).raw(new Uint8Array(20))), /length 1000000 but only 20 bytes remain/, 24);
  // string value length
  await rejects(withKv((b) => b.str("k").u32(V.STRING).u64(-1n)), /metadata "k" has length ≥ 2\^53/, 37);
  // 1000 u32 need 4000 bytes
  await rejects(withKv((b) => b.str("k").u32(V.ARRAY).u32(V.U32).u64(1000).u32(7)), /array metadata "k" claims 1000 u32 elements/, 41);
  // a string array needs ≥ 8 bytes per element
  await rejects(withKv((b) => b.str("k").u32(V.ARRAY).u32(V.STRING).u64(10).raw(new Uint8Array(79))), /claims 10 string elements/, 41);
  // a string inside an array that runs past the end
  await rejects(withKv((b) => b.str("k").u32(V.ARRAY).u32(V.STRING).u64(2).str("ok").u64(100).raw(new Uint8Array(20))), /string 1 of array metadata "k" has length 100/, 59);
  // nested arrays need ≥ 12 bytes each
  await rejects(withKv((b) => b.str("k").u32(V.ARRAY).u32(V.ARRAY).u64(5).raw(new Uint8Array(30))), /claims 5 array elements/, 41);
});

test("deeply nested arrays are refused instead of recursing", async () => {
  const deep = withKv((b) => {
    b.str("k").u32(V.ARRAY);
    for (let i = 0; i < 100_000; i++) b.u32(V.ARRAY).u64(1);
    b.u32(V.U8).u64(0);
  });
  await rejects(deep, /nests arrays more than 8 deep/, 133);
});

test("unknown value types and invalid values", async () => {
  await rejects(withKv((b) => b.str("k").u32(13).u32(0)), /metadata "k" has unknown value type 13/, 33);
  await rejects(withKv((b) => b.str("k").u32(V.ARRAY).u32(99).u64(0)), /unknown element type 99/, 37);
  await rejects(withKv((b) => b.str("k").u32(V.BOOL).u8(2)), /bool with invalid byte 2/, 37);
  await rejects(withKv((b) => b.str("k").u32(V.ARRAY).u32(V.BOOL).u64(3).raw([0, 1, 5])), /bool with invalid byte 5/, 51);
});

test("keys: duplicate, empty, invalid UTF-8", async () => {
  await rejects(withKv((b) => b.str("k").u32(V.U8).u8(1).str("k").u32(V.U8).u8(2), 2), /duplicate metadata key "k"/, 38);
  await rejects(withKv((b) => b.str("").u32(V.U8).u8(1).u8(0)), /empty key/, 24);
  await rejects(withKv((b) => b.str(new Uint8Array([0x61, 0xff, 0x62])).u32(V.U8).u8(1)), /key of metadata entry 0 is not valid UTF-8/, 32);
  // values may hold any bytes (vocabularies do); they decode with replacement characters
  const f = await readGguf(new BytesSource(withKv((b) => b.str("k").u32(V.STRING).str(new Uint8Array([0x61, 0xff])))));
  assert.equal(f.metadata.get("k"), "a\uFFFD");
});

test("general.alignment must be a u32 power of two", async () => {
  await rejects(withKv((b) => b.str("general.alignment").u32(V.U32).u32(48)), /general.alignment 48 is not a power of two/, 49);
  await rejects(withKv((b) => b.str("general.alignment").u32(V.U32).u32(0)), /not a power of two/, 49);
  await rejects(withKv((b) => b.str("general.alignment").u32(V.U64).u64(32)), /general.alignment has type u64/, 49);
  const f = await readGguf(new BytesSource(withKv((b) => b.str("general.alignment").u32(V.U32).u32(64))));
  assert.equal(f.alignment, 64);
  assert.equal(f.dataOffset, 64);
});

test("absurd dimensions", async () => {
  await rejects(withTensor((b) => b.str("t").u32(0).u32(0).u64(0)), /tensor "t" has 0 dimensions/, 33);
  await rejects(withTensor((b) => b.str("t").u32(5).raw(new Uint8Array(60))), /tensor "t" has 5 dimensions/, 33);
  await rejects(withTensor((b) => b.str("t").u32(2).u64(4).u64(0).u32(0).u64(0)), /dimension 1 is 0/, 45);
  await rejects(withTensor((b) => b.str("t").u32(1).u64(-4).u32(0).u64(0)), /dimension 0 is negative or ≥ 2\^53/, 37);
  await rejects(withTensor((b) => b.str("t").u32(3).u64(1 << 30).u64(1 << 30).u64(1 << 30).u32(0).u64(0)), /more than 2\^53 elements/, 45);
  // a plausible shape whose data would not fit in the file
  await rejects(withTensor((b) => b.str("t").u32(2).u64(4096).u64(4096).u32(0).u64(0)), /needs 67108864 bytes, more than the whole/, 33);
});

test("tensor types and block sizes", async () => {
  await rejects(withTensor((b) => b.str("t").u32(1).u64(4).u32(99).u64(0)), /unknown GGML type 99/, 45);
  await rejects(withTensor((b) => b.str("t").u32(1).u64(4).u32(4).u64(0)), /unknown GGML type 4/, 45);
  await rejects(withTensor((b) => b.str("t").u32(2).u64(33).u64(2).u32(GgmlType.Q8_0).u64(0)), /rows of 33 elements are not a multiple of the Q8_0 block size 32/, 53);
  const ok = await readGguf(new BytesSource(withTensor((b) => b.str("t").u32(2).u64(64).u64(2).u32(GgmlType.Q8_0).u64(0))));
  assert.equal(ok.tensors[0]!.byteLength, 4 * 34);
});

test("tensor offsets: out of range, unaligned, overlapping; duplicate and invalid names", async () => {
  await rejects(withTensor((b) => b.str("t").u32(1).u64(8).u32(0).u64(1n << 62n)), /data offset ≥ 2\^53/, 49);
  await rejects(withTensor((b) => b.str("t").u32(1).u64(8).u32(0).u64(4096)), /data offset 4096 is beyond the end/, 49);
  await rejects(withTensor((b) => b.str("t").u32(1).u64(8).u32(0).u64(16)), /data offset 16 is not a multiple of the alignment 32/, 49);
  await rejects(withTensor((b) => b.str("t").u32(1).u64(64).u32(0).u64(224)), /tensor "t" data \[288, 544\) lies beyond the end/, 49);
  await rejects(
    withTensor((b) => b.str("a").u32(1).u64(16).u32(0).u64(0).str("b").u32(1).u64(8).u32(0).u64(32), 2),
    /tensor "b" data overlaps tensor "a"/, 82);
  await rejects(
    withTensor((b) => b.str("a").u32(1).u64(8).u32(0).u64(0).str("a").u32(1).u64(8).u32(0).u64(32), 2),
    /duplicate tensor name "a"/, 57);
  await rejects(withTensor((b) => b.str("").u32(1).u64(8).u32(0).u64(0)), /tensor 0 has an empty name/, 24);
  await rejects(withTensor((b) => b.str(new Uint8Array([0xc3, 0x28])).u32(1).u64(8).u32(0).u64(0)), /name of tensor 0 is not valid UTF-8/, 32);
});

test("every value type round-trips through the reader", async () => {
  const b = header(new B(), 0, 13);
  b.str("u8").u32(V.U8).u8(200);
  b.str("i8").u32(V.I8).u8(0xfe);
  b.str("u16").u32(V.U16).u8(0x34).u8(0x12);
  b.str("i16").u32(V.I16).u8(0xff).u8(0xff);
  b.str("u32").u32(V.U32).u32(0xfffffffe);
  b.str("i32").u32(V.I32).u32(-5);
  b.str("f32").u32(V.F32).u32(0x3fc00000);
  b.str("bool").u32(V.BOOL).u8(1);
  b.str("str").u32(V.STRING).str("héllo");
  b.str("u64").u32(V.U64).u64(-1n);
  b.str("i64").u32(V.I64).u64(-2n);
  b.str("f64").u32(V.F64).raw(new Uint8Array(new Float64Array([0.1]).buffer));
  b.str("nested").u32(V.ARRAY).u32(V.ARRAY).u64(2).u32(V.I8).u64(2).u8(1).u8(0xff).u32(V.STRING).u64(1).str("x");
  const f = await readGguf(new BytesSource(b.done()));
  assert.deepEqual(Object.fromEntries(f.metadata), {
    u8: 200, i8: -2, u16: 0x1234, i16: -1, u32: 0xfffffffe, i32: -5, f32: 1.5, bool: true, str: "héllo",
    u64: 2n ** 64n - 1n, i64: -2n, f64: 0.1, nested: [[1, -1], ["x"]],
  });
  assert.deepEqual(f.metadataTypes.get("nested"), {
    type: V.ARRAY, arrayType: V.ARRAY, elements: [{ type: V.ARRAY, arrayType: V.I8 }, { type: V.ARRAY, arrayType: V.STRING }],
  });
  assert.equal(f.version, 3);
});

test("GGUF v2 is read like v3", async () => {
  const bytes = valid();
  bytes[4] = 2;
  const f = await readGguf(new BytesSource(bytes));
  assert.equal(f.version, 2);
  assert.equal(f.tensors.length, 2);
});
