import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { readFileSync } from "node:fs";
import { test } from "node:test";
import { UserError } from "../../src/errors.ts";
import { bf16ToF32, f16ToF32, f32ToBf16, f32ToF16 } from "../../src/format/f16.ts";
import { GgmlType, ggmlTypeInfo } from "../../src/format/ggml.ts";
import { readGguf } from "../../src/format/gguf.ts";
import { canQuantize, dequantize, dequantizeRow, quantize, quantizeRow } from "../../src/format/quant.ts";
import { BytesSource } from "../../src/format/source.ts";
import { edgeVector, seededNormal } from "./seeded-normal.ts";
import { FIXTURES } from "../fixtures-path.ts";

const MODELS_DIR = FIXTURES + "models/";
const ALL = [
  "F32", "F16", "BF16", "Q4_0", "Q4_1", "Q5_0", "Q5_1", "Q8_0", "Q8_1",
  "Q2_K", "Q3_K", "Q4_K", "Q5_K", "Q6_K", "Q8_K", "IQ4_NL", "IQ4_XS",
] as const;
const T = (name: (typeof ALL)[number]): GgmlType => GgmlType[name];

async function openGguf(rel: string) {
  return readGguf(new BytesSource(new Uint8Array(readFileSync(MODELS_DIR + rel)), rel));
}

const expected = JSON.parse(readFileSync(MODELS_DIR + "quantized/stories260K-quantized.expected.json", "utf8")) as {
  variants: { file: string; dequantized: Record<string, { type: string; first64: number[]; sum: number; l2: number }> }[];
};

test("dequantization matches llama.cpp on the real Q8_0/Q5_0/Q5_1/F16 tensors", async () => {
  let checked = 0;
  for (const v of expected.variants) {
    const g = await openGguf(v.file);
    for (const t of g.tensors) {
      const e = v.dequantized[t.name];
      assert.ok(e, `${v.file}: ${t.name} has expected values`);
      assert.equal(ggmlTypeInfo(t.type)?.name, e.type);
      const out = dequantize(t.type, await g.readTensor(t.name), t.elements);
      for (let i = 0; i < 64; i++) assert.ok(Object.is(out[i], e.first64[i]), `${v.file} ${t.name}[${i}]: ${out[i]} vs ${e.first64[i]}`);
      let sum = 0;
      let l2 = 0;
      for (const x of out) {
        sum += x;
        l2 += x * x;
      }
      assert.ok(Math.abs(sum - e.sum) <= 1e-6 * (1 + Math.abs(e.sum)) + 1e-9 * t.elements, `${t.name} sum ${sum} vs ${e.sum}`);
      assert.ok(Math.abs(Math.sqrt(l2) - e.l2) <= 1e-6 * e.l2, `${t.name} L2`);
      checked++;
    }
  }
  assert.equal(checked, 4 * 48);
});

test("quantizing the F32 model reproduces llama-quantize's Q8_0/Q5_0/Q5_1/F16 tensors byte for byte", async () => {
  const base = await openGguf("stories260K.gguf");
  const seen = new Set<string>();
  for (const v of expected.variants) {
    const g = await openGguf(v.file);
    for (const t of g.tensors) {
      if (t.type === GgmlType.F32) continue;
      const src = dequantize(GgmlType.F32, await base.readTensor(t.name), t.elements);
      const ours = quantize(t.type, src);
      assert.deepEqual(ours, await g.readTensor(t.name), `${v.file} ${t.name}`);
      seen.add(ggmlTypeInfo(t.type)!.name);
    }
  }
  assert.deepEqual([...seen].sort(), ["F16", "Q5_0", "Q5_1", "Q8_0"]);
});

// sha256 (first 16 hex digits) of the bytes llama.cpp itself produces for these inputs: the
// quantizers of node-llama-cpp 3.21.1's libggml-base.so (ggml_quantize_chunk without importance
// matrix; quantize_row_q8_1_ref / quantize_row_q8_K_ref for the activation types), called through
// ctypes on the vectors of seeded-normal.ts. Equal hashes = bit-identical to llama.cpp.
const LLAMA_CPP_SHA: Record<string, [normal: string, edge: string]> = {
  F16: ["19d38258f40c459e", "9e49033b3b012366"], BF16: ["b8f786a90d7c1246", "e2789c72e1826c62"],
  Q4_0: ["df5c3c0d6bd1b670", "de7e36e711a7cafb"], Q4_1: ["7e3464d983936b79", "f79c371e1395e96d"],
  Q5_0: ["e0fee93e3e52c45c", "9cfac03a69c97365"], Q5_1: ["63fd213cda8ee68c", "fcae9fccc20eb629"],
  Q8_0: ["95910c5188748d59", "76eb776ec749bbcf"], Q8_1: ["98adbb3763e50679", "88203a95f3c415f8"],
  Q2_K: ["2c91b58fe1830cb4", "734bd79d84a3ae48"], Q3_K: ["a317b98460dc2d58", "89423200b9f6bc68"],
  Q4_K: ["d4641907dee4355a", "8a38e25b6324e8df"], Q5_K: ["739dd6f2ac75481f", "5c50cf65beb673fe"],
  Q6_K: ["62a93db4dd71c2cf", "c5137f322b8f7207"], Q8_K: ["0750c503831855fe", "1cf16f3b369dac38"],
  IQ4_NL: ["6c129df3c13bd3e3", "c706a94389e6c1c0"], IQ4_XS: ["542d28841062c6b2", "7709af1ca858e13a"],
};

const sha16 = (b: Uint8Array): string => createHash("sha256").update(b).digest("hex").slice(0, 16);

test("every quantizer is bit-identical to llama.cpp's on a normal vector and on edge cases", () => {
  const normal = seededNormal(4096 * 8, 42);
  const edge = edgeVector();
  for (const [name, [hNormal, hEdge]] of Object.entries(LLAMA_CPP_SHA)) {
    const type = GgmlType[name as keyof typeof GgmlType];
    assert.equal(sha16(quantize(type, normal)), hNormal, `${name} normal`);
    assert.equal(sha16(quantize(type, edge)), hEdge, `${name} edge`);
  }
});

// RMSE of llama.cpp's own quantize→dequantize on seededNormal(32768, 42), measured with the same
// libggml-base.so (ggml_quantize_chunk + to_float). Ours must be no worse.
const LLAMA_CPP_RMSE: Record<string, number> = {
  F16: 0.000207557, BF16: 0.00166055, Q4_0: 0.0858258, Q4_1: 0.0784036, Q5_0: 0.0427678, Q5_1: 0.037954,
  Q8_0: 0.0053356, Q2_K: 0.297392, Q3_K: 0.151117, Q4_K: 0.0712399, Q5_K: 0.0363028, Q6_K: 0.017726,
  IQ4_NL: 0.0756659, IQ4_XS: 0.0762441,
};

test("round-trip error per type (bits/weight vs RMSE) is no worse than llama.cpp's", () => {
  const x = seededNormal(4096 * 8, 42);
  const rows: string[] = [];
  for (const name of ALL) {
    const type = T(name);
    const q = quantize(type, x);
    const y = dequantize(type, q, x.length);
    let se = 0;
    for (let i = 0; i < x.length; i++) se += (y[i] - x[i]) ** 2;
    const rmse = Math.sqrt(se / x.length);
    const bpw = (8 * q.length) / x.length;
    const ref = LLAMA_CPP_RMSE[name];
    rows.push(`${name.padEnd(7)} ${bpw.toFixed(4).padStart(8)} ${rmse.toExponential(4).padStart(11)} ${ref === undefined ? "" : ref.toExponential(4).padStart(11)}`);
    if (name === "F32") assert.equal(rmse, 0);
    else if (ref !== undefined) assert.ok(rmse <= ref * 1.00001, `${name}: ${rmse} > llama.cpp ${ref}`);
    // Activation types: Q8_1 is Q8_0's grid; Q8_K has one scale per 256 values, so a wider step.
    else assert.ok(rmse < (name === "Q8_K" ? 0.0075 : 0.0054), `${name}: ${rmse}`);
  }
  console.log(`type    bits/wt        RMSE   llama.cpp\n${rows.join("\n")}`);
});

test("Q4_0 and Q4_1 on blocks with known answers", () => {
  // Q4_0: the signed extreme -8 gives d = -8/-8 = 1; every integer in [-8, 7] is exact.
  const x = new Float32Array(32);
  for (let j = 0; j < 32; j++) x[j] = (j % 16) - 8;
  const q = quantize(GgmlType.Q4_0, x);
  assert.deepEqual([...q.subarray(0, 2)], [0x00, 0x3c]); // f16(1.0)
  for (let j = 0; j < 16; j++) assert.equal(q[2 + j], (j & 0xf) | ((j & 0xf) << 4));
  assert.deepEqual(dequantize(GgmlType.Q4_0, q, 32), x);
  // A positive extreme flips the sign of d: max 16 → d = -2, and 16 maps to level 0.
  const y = new Float32Array(32).fill(0);
  y[5] = 16;
  y[6] = -14;
  const qy = quantize(GgmlType.Q4_0, y);
  assert.equal(f16ToF32(qy[0] | (qy[1] << 8)), -2);
  assert.equal(qy[2 + 5] & 0xf, 0); // 16 / -2 = -8 → level 0
  assert.equal(qy[2 + 6] & 0xf, 15); // -14 / -2 = 7 → level 15
  assert.equal(qy[2 + 0] & 0xf, 8); // zero → level 8
  // Q4_1: 0..15 and 16..31 (two ramps) → d = 31/15, m = 0.
  const z = new Float32Array(32);
  for (let j = 0; j < 32; j++) z[j] = j;
  const qz = quantize(GgmlType.Q4_1, z);
  assert.equal(f16ToF32(qz[0] | (qz[1] << 8)), f16ToF32(f32ToF16(Math.fround(31 / 15))));
  assert.equal(f16ToF32(qz[2] | (qz[3] << 8)), 0);
  // Value j sits at level round(j·15/31) (the `+ 0.5` then truncation of the reference).
  for (let j = 0; j < 16; j++) {
    assert.equal(qz[4 + j] & 0xf, Math.trunc(Math.fround(Math.fround(j * Math.fround(1 / Math.fround(31 / 15))) + 0.5)));
  }
  const back = dequantize(GgmlType.Q4_1, qz, 32);
  for (let j = 0; j < 32; j++) assert.ok(Math.abs(back[j] - j) <= 31 / 15 / 2 + 0.01, `Q4_1 ${j} → ${back[j]}`);
  // Constant blocks: Q4_1 stores the constant as m with d = 0.
  const c = quantize(GgmlType.Q4_1, new Float32Array(32).fill(0.75));
  assert.deepEqual(dequantize(GgmlType.Q4_1, c, 32), new Float32Array(32).fill(0.75));
});

test("every F16 and BF16 bit pattern round-trips through f32", () => {
  for (let h = 0; h < 65536; h++) {
    const v = f16ToF32(h);
    const back = f32ToF16(v);
    if (Number.isNaN(v)) {
      assert.equal(back & 0x7c00, 0x7c00, `f16 NaN ${h.toString(16)}`);
      assert.notEqual(back & 0x3ff, 0);
      assert.equal(back & 0x8000, h & 0x8000);
    } else {
      assert.equal(back, h, `f16 ${h.toString(16)} → ${v} → ${back.toString(16)}`);
    }
    const b = bf16ToF32(h);
    const bb = f32ToBf16(b);
    if (Number.isNaN(b)) assert.ok((bb & 0x7f80) === 0x7f80 && (bb & 0x7f) !== 0, `bf16 NaN ${h.toString(16)}`);
    else assert.equal(bb, h, `bf16 ${h.toString(16)}`);
  }
});

test("f32 → f16 rounds to nearest even, including subnormals and overflow", () => {
  const cases: [number, number][] = [
    [0, 0], [-0, 0x8000], [1, 0x3c00], [65504, 0x7bff], [65519.99, 0x7bff], [65520, 0x7c00], [Infinity, 0x7c00],
    [2 ** -24, 0x0001], [2 ** -25, 0x0000], [Math.fround(2 ** -25 * 1.0000001), 0x0001], [3 * 2 ** -25, 0x0002],
    [2 ** -14, 0x0400], [2 ** -14 - 2 ** -24, 0x03ff], [1 + 2 ** -11, 0x3c00], [1 + 3 * 2 ** -11, 0x3c02], [1e-30, 0],
  ];
  for (const [v, h] of cases) assert.equal(f32ToF16(v), h, `${v}`);
  const f16round = (Math as { f16round?: (x: number) => number }).f16round;
  if (f16round) {
    // Independent oracle where the runtime has it: random f32 bit patterns over the whole range.
    const bits = new Uint32Array(1);
    const f = new Float32Array(bits.buffer);
    let s = 12345;
    for (let i = 0; i < 200000; i++) {
      s = (Math.imul(s, 1103515245) + 12345) >>> 0;
      bits[0] = (s & 0x80000000) | ((0x30000000 + (s % 0x18000000)) >>> 0);
      const v = f[0];
      assert.ok(Object.is(f16ToF32(f32ToF16(v)), f16round(v)), `${v}`);
    }
  }
  // BF16: ggml rounds to nearest even on the upper half.
  assert.equal(f32ToBf16(1), 0x3f80);
  assert.equal(f32ToBf16(Math.fround(1 + 2 ** -8)), 0x3f80); // tie → even
  assert.equal(f32ToBf16(Math.fround(1 + 3 * 2 ** -8)), 0x3f82); // tie → even (up)
  assert.equal(f32ToBf16(NaN) & 0x7fc0, 0x7fc0);
});

test("row API: offsets, no partial blocks, unsupported types named", () => {
  const x = seededNormal(512, 3);
  for (const name of ALL) {
    const type = T(name);
    assert.ok(canQuantize(type), name);
    const info = ggmlTypeInfo(type)!;
    const whole = quantize(type, x);
    const rowBytes = (256 / info.blockSize) * info.typeSize;
    const out = new Uint8Array(rowBytes + 7);
    quantizeRow(type, x, 256, 256, out, 7);
    assert.deepEqual(out.subarray(7), whole.subarray(rowBytes), `${name} quantizeRow at offsets`);
    const y = new Float32Array(300);
    dequantizeRow(type, out, 7, 256, y, 44);
    assert.deepEqual(y.subarray(44), dequantize(type, whole, 512).subarray(256), `${name} dequantizeRow at offsets`);
  }
  assert.throws(() => quantize(GgmlType.Q4_K, new Float32Array(100)), UserError);
  assert.throws(() => dequantize(GgmlType.IQ2_XXS, new Uint8Array(66), 256), (e: unknown) => e instanceof UserError && /IQ2_XXS/.test(e.message));
  assert.throws(() => quantize(GgmlType.MXFP4, new Float32Array(32)), (e: unknown) => e instanceof UserError && /MXFP4/.test(e.message));
  assert.throws(() => quantize(99 as GgmlType, new Float32Array(32)), (e: unknown) => e instanceof UserError && /99/.test(e.message));
  assert.equal(canQuantize(GgmlType.IQ2_XXS), false);
});
