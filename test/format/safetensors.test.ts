import { test } from "node:test";
import assert from "node:assert/strict";
import {
  MAX_HEADER_BYTES, SafetensorsError, openSafetensorsCheckpoint, readSafetensorsHeader, readSafetensorsTensor,
  safetensorsIndexJson, writeSafetensors, type FolderFiles,
} from "../../src/format/safetensors.ts";
import { BytesSource } from "../../src/format/source.ts";

const le16 = (...xs: number[]) => new Uint8Array(new Uint16Array(xs).buffer);
const le32f = (...xs: number[]) => new Uint8Array(new Float32Array(xs).buffer);

/** A .safetensors file assembled by hand (not through the writer): header JSON, then data. */
function handMade(header: unknown, data: Uint8Array, opts: { lengthOverride?: bigint; raw?: Uint8Array } = {}): Uint8Array {
  const json = opts.raw ?? new TextEncoder().encode(JSON.stringify(header));
  const out = new Uint8Array(8 + json.length + data.length);
  new DataView(out.buffer).setBigUint64(0, opts.lengthOverride ?? BigInt(json.length), true);
  out.set(json, 8);
  out.set(data, 8 + json.length);
  return out;
}

function memFolder(files: Record<string, Uint8Array | string>): FolderFiles {
  return {
    async open(name) {
      const f = files[name];
      if (f === undefined) return undefined;
      return new BytesSource(typeof f === "string" ? new TextEncoder().encode(f) : f, `mem/${name}`);
    },
    async readText(name) {
      const f = files[name];
      if (f === undefined) return undefined;
      return typeof f === "string" ? f : new TextDecoder().decode(f);
    },
  };
}

// Independent decoders for the three readable dtypes.
function f16Value(h: number): number {
  const s = h >> 15 ? -1 : 1, e = (h >> 10) & 31, m = h & 1023;
  if (e === 0) return s * m * 2 ** -24;
  if (e === 31) return m ? NaN : s * Infinity;
  return s * 2 ** (e - 15) * (1 + m / 1024);
}
function bf16Value(h: number): number {
  return new Float32Array(new Uint32Array([h << 16]).buffer)[0]!;
}

test("reads a hand-made file: F32, F16 and BF16 values exact, metadata, offsets", async () => {
  const f32 = le32f(1.5, -0.25, 3.4028234663852886e38, 1.401298464324817e-45, 0, -7);
  const f16bits = [0x3c00, 0xc000, 0x3555, 0x0001, 0x7bff, 0x8000];
  const bf16bits = [0x3f80, 0x4049, 0xc2f7, 0x0001];
  const data = new Uint8Array([...f32, ...le16(...f16bits), ...le16(...bf16bits)]);
  const header = {
    __metadata__: { format: "pt" },
    "b.bf16": { dtype: "BF16", shape: [2, 2], data_offsets: [36, 44] },
    "a.f32": { dtype: "F32", shape: [2, 3], data_offsets: [0, 24] },
    "c.f16": { dtype: "F16", shape: [6], data_offsets: [24, 36] },
  };
  const src = new BytesSource(handMade(header, data), "hand.safetensors");
  const f = await readSafetensorsHeader(src);
  assert.deepEqual(f.metadata, { format: "pt" });
  assert.deepEqual(f.tensors.map((t) => t.name), ["a.f32", "c.f16", "b.bf16"]); // data order
  const a = f.tensors[0]!;
  assert.deepEqual([a.dtype, a.shape, a.elements, a.byteLength], ["F32", [2, 3], 6, 24]);
  assert.equal(a.offset, f.dataOffset);

  const fa = new Float32Array((await readSafetensorsTensor(a)).slice().buffer);
  assert.deepEqual([...fa], [1.5, -0.25, 3.4028234663852886e38, 1.401298464324817e-45, 0, -7]);
  const c = new Uint16Array((await readSafetensorsTensor(f.tensors[1]!)).slice().buffer);
  assert.deepEqual([...c].map(f16Value), [1, -2, 0.333251953125, 2 ** -24, 65504, -0]);
  const b = new Uint16Array((await readSafetensorsTensor(f.tensors[2]!)).slice().buffer);
  assert.deepEqual([...b].map(bf16Value), [1, 3.140625, -123.5, bf16Value(1)]);
  assert.ok(bf16Value(1) > 0 && bf16Value(1) < 1e-38);
});

test("writer round-trip: 8-byte aligned header, bytes and metadata survive", async () => {
  const tensors = [
    { name: "w", dtype: "F32", shape: [3, 2], data: le32f(1, 2, 3, 4, 5, 6) },
    { name: "h", dtype: "F16", shape: [3], data: le16(0x3c00, 0x4000, 0x4200) },
    { name: "b", dtype: "BF16", shape: [1, 1, 2], data: le16(0x3f80, 0xbf80) },
    { name: "empty", dtype: "F32", shape: [0, 4], data: new Uint8Array(0) },
    { name: "ids", dtype: "I64", shape: [2], data: new Uint8Array(16) },
  ];
  const bytes = writeSafetensors(tensors, { format: "pt", note: "ünïcode" });
  const n = Number(new DataView(bytes.buffer).getBigUint64(0, true));
  assert.equal((8 + n) % 8, 0);
  const f = await readSafetensorsHeader(new BytesSource(bytes, "rt.safetensors"));
  assert.deepEqual(f.metadata, { format: "pt", note: "ünïcode" });
  for (const t of tensors) {
    const got = f.tensors.find((x) => x.name === t.name)!;
    assert.deepEqual([got.dtype, got.shape], [t.dtype, t.shape]);
    if (t.dtype !== "I64") assert.deepEqual(await readSafetensorsTensor(got), t.data);
  }
  // Listed, but not readable as model data.
  const ids = f.tensors.find((x) => x.name === "ids")!;
  await assert.rejects(readSafetensorsTensor(ids), (e: unknown) =>
    e instanceof SafetensorsError && /rt\.safetensors: tensor "ids" has dtype I64/.test(e.message));
});

test("sharded checkpoint with index.json reads every tensor from its shard", async () => {
  const s1 = writeSafetensors([{ name: "x", dtype: "F32", shape: [2], data: le32f(1, 2) }]);
  const s2 = writeSafetensors([
    { name: "y", dtype: "F16", shape: [1], data: le16(0x3c00) },
    { name: "z", dtype: "BF16", shape: [2], data: le16(0x4000, 0x4040) },
  ]);
  const weightMap = new Map([["x", "model-00001-of-00002.safetensors"], ["y", "model-00002-of-00002.safetensors"], ["z", "model-00002-of-00002.safetensors"]]);
  const folder = memFolder({
    "model.safetensors.index.json": safetensorsIndexJson(weightMap, 14),
    "model-00001-of-00002.safetensors": s1,
    "model-00002-of-00002.safetensors": s2,
  });
  const ck = await openSafetensorsCheckpoint(folder, "mem");
  assert.equal(ck.files.length, 2);
  assert.deepEqual([...ck.tensors.keys()].sort(), ["x", "y", "z"]);
  assert.equal(ck.tensors.get("z")!.file.source.name, "mem/model-00002-of-00002.safetensors");
  assert.deepEqual(await readSafetensorsTensor(ck.tensors.get("x")!), le32f(1, 2));
  assert.deepEqual(await readSafetensorsTensor(ck.tensors.get("z")!), le16(0x4000, 0x4040));
  await ck.close();

  const single = await openSafetensorsCheckpoint(memFolder({ "model.safetensors": s2 }), "mem");
  assert.deepEqual([...single.tensors.keys()], ["y", "z"]);
});

async function rejectsWith(bytes: Uint8Array, pattern: RegExp): Promise<void> {
  await assert.rejects(readSafetensorsHeader(new BytesSource(bytes, "bad.safetensors")), (e: unknown) => {
    assert.ok(e instanceof SafetensorsError, `expected SafetensorsError, got ${String(e)}`);
    assert.match(e.message, /^bad\.safetensors: /);
    assert.match(e.message, pattern);
    return true;
  });
}

test("hostile headers: each damage gives a SafetensorsError naming file, problem and place", async () => {
  const ok = { t: { dtype: "F32", shape: [2], data_offsets: [0, 8] } };
  const data8 = new Uint8Array(8);
  await rejectsWith(new Uint8Array(5), /too short for the 8-byte header length/);
  await rejectsWith(handMade(ok, data8, { lengthOverride: 1n << 40n }), new RegExp(`exceeds the ${MAX_HEADER_BYTES}-byte limit`));
  await rejectsWith(handMade(ok, data8, { lengthOverride: 2n ** 64n - 1n }), /exceeds the/);
  await rejectsWith(handMade(ok, data8, { lengthOverride: 90_000_000n }), /header length 90000000 at byte 0 runs past the end/);
  await rejectsWith(handMade(null, data8, { raw: new TextEncoder().encode('{"t": {"dtype": "F32",') }), /header \(bytes 8\.\.30\) is not valid JSON/);
  await rejectsWith(handMade(null, data8, { raw: new Uint8Array([0x7b, 0xff, 0xfe, 0x7d]) }), /not valid UTF-8/);
  await rejectsWith(handMade([1, 2], data8), /is not a JSON object/);
  await rejectsWith(handMade({ t: 5 }, data8), /tensor "t" is not an object in the header/);
  await rejectsWith(handMade({ t: { shape: [2], data_offsets: [0, 8] } }, data8), /tensor "t" has no dtype/);
  await rejectsWith(handMade({ t: { dtype: "F128", shape: [2], data_offsets: [0, 8] } }, data8), /tensor "t" has unknown dtype "F128"/);
  await rejectsWith(handMade({ t: { dtype: "F32", shape: [-2], data_offsets: [0, 8] } }, data8), /invalid dimension -2/);
  await rejectsWith(handMade({ t: { dtype: "F32", shape: [1.5], data_offsets: [0, 8] } }, data8), /invalid dimension 1\.5/);
  await rejectsWith(handMade({ t: { dtype: "F32", shape: [2 ** 30, 2 ** 30, 2 ** 30], data_offsets: [0, 8] } }, data8), /more elements than can be addressed/);
  await rejectsWith(handMade({ t: { dtype: "F32", shape: [2], data_offsets: [0] } }, data8), /data_offsets is not a \[begin, end\] pair/);
  await rejectsWith(handMade({ t: { dtype: "F32", shape: [2], data_offsets: [8, 0] } }, data8), /data_offsets \[8,0\] are not a valid range/);
  await rejectsWith(handMade({ t: { dtype: "F32", shape: [4], data_offsets: [0, 16] } }, data8), /data_offsets \[0, 16\] run past the end of the data section \(8 bytes/);
  await rejectsWith(handMade({ t: { dtype: "F32", shape: [2 ** 40], data_offsets: [0, 2 ** 42] } }, data8), /run past the end/);
  await rejectsWith(handMade({ t: { dtype: "F32", shape: [3], data_offsets: [0, 8] } }, data8), /hold 8 bytes but F32 \[3\] needs 12/);
  await rejectsWith(handMade({ t: { dtype: "F16", shape: [2], data_offsets: [0, 8] } }, data8), /hold 8 bytes but F16 \[2\] needs 4/);
  await rejectsWith(
    handMade({ a: { dtype: "F32", shape: [2], data_offsets: [0, 8] }, b: { dtype: "F16", shape: [2], data_offsets: [4, 8] } }, data8),
    /tensors "a" \[0, 8\] and "b" \[4, 8\] overlap/,
  );
  await rejectsWith(handMade({ __metadata__: { format: 1 }, ...ok }, data8), /__metadata__\["format"\] is not a string/);
  await rejectsWith(handMade({ __metadata__: [], ...ok }, data8), /__metadata__ in the header is not an object/);
});

test("hostile index.json: missing shards, missing tensors, bad JSON, names outside the folder", async () => {
  const shard = writeSafetensors([{ name: "x", dtype: "F32", shape: [1], data: le32f(1) }]);
  const cases: Array<[Record<string, Uint8Array | string>, RegExp]> = [
    [{}, /^mem: has neither model\.safetensors nor model\.safetensors\.index\.json/],
    [{ "model.safetensors.index.json": "{ nope" }, /^mem\/model\.safetensors\.index\.json: is not valid JSON/],
    [{ "model.safetensors.index.json": "{}" }, /has no "weight_map" object/],
    [{ "model.safetensors.index.json": '{"weight_map": {}}' }, /weight_map is empty/],
    [{ "model.safetensors.index.json": '{"weight_map": {"x": "../../etc/passwd"}}' }, /weight_map\["x"\] is not a file name in the folder/],
    [{ "model.safetensors.index.json": '{"weight_map": {"x": 3}}' }, /weight_map\["x"\] is not a file name/],
    [{ "model.safetensors.index.json": '{"weight_map": {"x": "a.safetensors", "y": "b.safetensors"}}', "a.safetensors": shard },
      /lists shard "b\.safetensors" \(for "y", …\) but mem\/b\.safetensors does not exist/],
    [{ "model.safetensors.index.json": '{"weight_map": {"x": "a.safetensors", "q": "a.safetensors"}}', "a.safetensors": shard },
      /maps tensor "q" to a\.safetensors, which does not contain it/],
    [{ "model.safetensors.index.json": '{"weight_map": {"x": "a.safetensors"}}', "a.safetensors": new Uint8Array(3) },
      /^mem\/a\.safetensors: file is 3 bytes/],
  ];
  for (const [files, pattern] of cases) {
    await assert.rejects(openSafetensorsCheckpoint(memFolder(files), "mem"), (e: unknown) => {
      assert.ok(e instanceof SafetensorsError, `expected SafetensorsError for ${pattern}, got ${String(e)}`);
      assert.match(e.message, pattern);
      return true;
    });
  }
});

test("fuzz: 1,500 seeded mutations of a valid file parse or throw SafetensorsError", async () => {
  const base = writeSafetensors([
    { name: "model.layers.0.self_attn.q_proj.weight", dtype: "BF16", shape: [4, 4], data: new Uint8Array(32).fill(7) },
    { name: "model.norm.weight", dtype: "F32", shape: [4], data: le32f(1, 2, 3, 4) },
    { name: "lm_head.weight", dtype: "F16", shape: [2, 4], data: new Uint8Array(16).fill(1) },
  ], { format: "pt" });
  let seed = 12345;
  const rnd = (n: number) => ((seed = (Math.imul(seed, 1103515245) + 12345) >>> 0) % n);
  let parsed = 0;
  for (let i = 0; i < 1500; i++) {
    let bytes = base.slice();
    const kind = rnd(4);
    if (kind === 0) for (let k = 0; k <= rnd(4); k++) bytes[rnd(bytes.length)] = rnd(256);
    else if (kind === 1) bytes = bytes.subarray(0, rnd(bytes.length));
    else if (kind === 2) new DataView(bytes.buffer).setUint32(rnd(2) * 4, rnd(2 ** 32), true);
    else {
      // Digit edits inside the JSON make plausible but wrong offsets and shapes.
      const at = 8 + rnd(bytes.length - 8);
      if (bytes[at]! >= 0x30 && bytes[at]! <= 0x39) bytes[at] = 0x30 + rnd(10);
      else bytes[rnd(bytes.length)] ^= 1 << rnd(8);
    }
    try {
      const f = await readSafetensorsHeader(new BytesSource(bytes, "fuzz"));
      for (const t of f.tensors) await readSafetensorsTensor(t).catch((e) => { if (!(e instanceof SafetensorsError)) throw e; });
      parsed++;
    } catch (e) {
      if (!(e instanceof SafetensorsError)) throw new Error(`mutation ${i} threw ${String(e)}`);
    }
  }
  assert.ok(parsed > 0 && parsed < 1500, `parsed ${parsed}`);
});
