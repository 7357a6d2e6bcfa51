import assert from "node:assert/strict";
import { test } from "node:test";
import { activationBytes, dotKernel, quantizeActivation, vecDot, vecDotType } from "../../src/backend/ref/vecdot.ts";
import { createRefBackend } from "../../src/backend/ref/index.ts";
import { f16ToF32, f32ToBf16, f32ToF16 } from "../../src/format/f16.ts";
import { GgmlType } from "../../src/format/ggml.ts";
import { dequantize, quantize, quantizedSize } from "../../src/format/quant.ts";
import { seededNormal } from "../format/seeded-normal.ts";

const WEIGHTS = ["F32", "F16", "BF16", "Q4_0", "Q4_1", "Q5_0", "Q5_1", "Q8_0", "Q2_K", "Q3_K", "Q4_K", "Q5_K", "Q6_K", "IQ4_NL", "IQ4_XS"] as const;
const T = (name: (typeof WEIGHTS)[number]): GgmlType => GgmlType[name];

test("vec_dot_type follows llama.cpp's CPU type traits", () => {
  const want: Record<string, string> = {
    F32: "F32", F16: "F16", BF16: "BF16", Q4_0: "Q8_0", Q5_0: "Q8_0", Q8_0: "Q8_0", IQ4_NL: "Q8_0", Q4_1: "Q8_1", Q5_1: "Q8_1",
    Q2_K: "Q8_K", Q3_K: "Q8_K", Q4_K: "Q8_K", Q5_K: "Q8_K", Q6_K: "Q8_K", IQ4_XS: "Q8_K",
  };
  for (const name of WEIGHTS) assert.equal(vecDotType(T(name)), GgmlType[want[name] as keyof typeof GgmlType], name);
  assert.throws(() => vecDotType(GgmlType.IQ2_XXS), /IQ2_XXS/);
});

function row(name: (typeof WEIGHTS)[number], n: number, seed: number, scale = 1) {
  const type = T(name);
  const w = quantize(type, seededNormal(n, 100 + seed));
  const x = seededNormal(n, 200 + seed);
  if (scale !== 1) for (let i = 0; i < n; i++) x[i] = Math.fround(x[i] * scale);
  const xq = new Uint8Array(activationBytes(type, n));
  quantizeActivation(vecDotType(type), x, 0, n, xq, 0);
  return { type, w, x, xq };
}

// f32 bits of llama.cpp's own results for row(): the AVX2/AVX-512 ggml_vec_dot_* of node-llama-cpp
// 3.21.1's libggml-cpu-zen4.so for the quantized types (a one-row mul_mat, so no repacking) and the
// AVX-512 ggml_vec_dot_f32/_f16/_bf16 (its cooperlake build), with activations from its x86
// quantize_row_q8_0/_q8_1/_q8_K, all by calling the prebuilt libraries.
const LLAMA_CPP: [string, number, number, number][] = [
  ["F32", 4096, 0, 0xc2c92680], ["F32", 4096, 3, 0x441d0798], ["F32", 4140, 0, 0xc2c1294c], ["F32", 4140, 3, 0x44194166],
  ["F32", 44, 0, 0xc0cd63b2], ["F32", 44, 3, 0x438708bc], ["F32", 209, 0, 0xc1ced345], ["F32", 209, 3, 0xc46c0356],
  ["F16", 4096, 0, 0xc2c9283a], ["F16", 4096, 3, 0x441cf1d2], ["F16", 4140, 0, 0xc2c12c35], ["F16", 4140, 3, 0x44192cb0],
  ["F16", 44, 0, 0xc0cd6fe5], ["F16", 44, 3, 0x43871e78], ["F16", 209, 0, 0xc1cec504], ["F16", 209, 3, 0xc46bf5cc],
  ["BF16", 4096, 0, 0xc2c90e62], ["BF16", 4096, 3, 0x441c9f5c], ["BF16", 4140, 0, 0xc2c1138f], ["BF16", 4140, 3, 0x4418d016],
  ["BF16", 44, 0, 0xc0cdf442], ["BF16", 44, 3, 0x4386c09a], ["BF16", 209, 0, 0xc1cf0be6], ["BF16", 209, 3, 0xc46c8fc2],
  ["Q4_0", 4096, 0, 0xc2d73246], ["Q4_0", 256, 0, 0xc1f0ca82], ["Q4_1", 4096, 0, 0xc2c95ac2], ["Q4_1", 256, 0, 0xc1f60d58],
  ["Q5_0", 4096, 0, 0xc2c23f0c], ["Q5_0", 256, 0, 0xc1eed51e], ["Q5_1", 4096, 0, 0xc2c99d6a], ["Q5_1", 256, 0, 0xc1f44548],
  ["Q8_0", 4096, 0, 0xc2ca080a], ["Q8_0", 256, 0, 0xc1f435a3], ["Q2_K", 4096, 0, 0xc2c41367], ["Q2_K", 256, 0, 0xc209c3bb],
  ["Q3_K", 4096, 0, 0xc2cf90f9], ["Q3_K", 256, 0, 0xc1feb526], ["Q4_K", 4096, 0, 0xc2ca7754], ["Q4_K", 256, 0, 0xc1e19db4],
  ["Q5_K", 4096, 0, 0xc2c74ed3], ["Q5_K", 256, 0, 0xc1f65c22], ["Q6_K", 4096, 0, 0xc2ca3252], ["Q6_K", 256, 0, 0xc1f2e8b7],
  ["IQ4_NL", 4096, 0, 0xc2c9a9b8], ["IQ4_NL", 256, 0, 0xc200cec2], ["IQ4_XS", 4096, 0, 0xc2c94dab], ["IQ4_XS", 256, 0, 0xc1ff79db],
];

test("dot products are bit-identical to llama.cpp's", () => {
  const bits = new Uint32Array(1);
  const f = new Float32Array(bits.buffer);
  for (const [name, n, seed, want] of LLAMA_CPP) {
    const { type, w, xq } = row(name as (typeof WEIGHTS)[number], n, seed, seed === 3 ? 37.3 : 1);
    f[0] = vecDot(type, w, 0, xq, 0, n);
    assert.equal(bits[0].toString(16), want.toString(16), `${name} n=${n} seed=${seed}`);
  }
});

test("vecDot equals the dot of the dequantized rows, and approximates the f32 dot", () => {
  for (const name of WEIGHTS) {
    for (const n of [256, 4096]) {
      const { type, w, x, xq } = row(name, n, 1);
      const got = vecDot(type, w, 0, xq, 0, n);
      const wd = dequantize(type, w, n);
      const xd = dequantize(vecDotType(type), xq, n);
      // Q8_1 carries s = f16(d·Σq) per block and llama.cpp uses it for the min term: m·s.
      const withMin = type === GgmlType.Q4_1 || type === GgmlType.Q5_1;
      const bs = type === GgmlType.Q4_1 ? 20 : 24;
      let exact = 0, mag = 0, f32dot = 0, xmag = 0;
      for (let i = 0; i < n; i++) {
        const m = withMin ? f16ToF32(w[bs * (i >> 5) + 2] | (w[bs * (i >> 5) + 3] << 8)) : 0;
        exact += (wd[i] - m) * xd[i];
        if (withMin && (i & 31) === 0) exact += m * f16ToF32(xq[36 * (i >> 5) + 2] | (xq[36 * (i >> 5) + 3] << 8));
        mag += Math.abs(wd[i] * xd[i]);
        f32dot += wd[i] * x[i];
        xmag += Math.abs(wd[i]) * Math.abs(x[i]);
      }
      // Same integers, only f32 scaling/accumulation rounding differs.
      assert.ok(Math.abs(got - exact) <= 2e-6 * mag, `${name} n=${n}: ${got} vs ${exact} (Σ|·| ${mag})`);
      // Activation quantization error: Q8 is ~0.4% per value, random signs average it down.
      const tol = type === GgmlType.F32 ? 1e-6 : type === GgmlType.BF16 ? 4e-3 : 1e-2;
      assert.ok(Math.abs(got - f32dot) <= tol * xmag, `${name} n=${n}: ${got} vs f32 ${f32dot}`);
    }
  }
});

test("offsets are honoured and nothing outside the rows is read", () => {
  for (const name of WEIGHTS) {
    const n = 512;
    const { type, w, xq } = row(name, n, 2);
    const want = vecDot(type, w, 0, xq, 0, n);
    const wp = new Uint8Array(w.length + 13).fill(0xa5);
    wp.set(w, 5);
    const xp = new Uint8Array(xq.length + 9).fill(0x5a);
    xp.set(xq, 3);
    assert.ok(Object.is(vecDot(type, wp, 5, xp, 3, n), want), name);
    assert.throws(() => vecDot(type, w, 1, xq, 0, n), RangeError);
  }
});

test("activation quantization: x86 and reference flavours differ only in rounding details", () => {
  const x = seededNormal(4096, 9);
  for (const type of [GgmlType.Q8_0, GgmlType.Q8_1]) {
    const a = new Uint8Array(quantizedSize(type, 4096));
    const b = new Uint8Array(a.length);
    quantizeActivation(type, x, 0, 4096, a, 0);
    quantizeActivation(type, x, 0, 4096, b, 0, "ref");
    assert.deepEqual(b, quantize(type, x));
    const da = dequantize(type, a, 4096), db = dequantize(type, b, 4096);
    let diff = 0;
    for (let i = 0; i < 4096; i++) if (da[i] !== db[i]) diff++;
    assert.ok(diff < 41, `${diff} values differ`); // < 1%: last-ulp multiplier and .5 ties only
  }
});

// Row 0 of a [512 × rows] weight times the first and the last of nTokens activation rows, as
// node-llama-cpp 3.21.1's libggml-cpu-zen4.so computes them in one mul_mat (f32 bits): repacked
// gemv (1 token) and gemm (4), the IQ panel gemm (8), llamafile tinyBLAS (2), through our matmul.
const KERNELS: [string, number, number, number, number][] = [
  ["Q4_0", 8, 1, 0xc0caacfb, 0xc0caacfb], ["Q4_0", 8, 4, 0xc0caacfb, 0x42023759],
  ["IQ4_NL", 8, 1, 0xc090562e, 0xc090562e], ["IQ4_NL", 4, 2, 0xc090562d, 0xc19bd102],
  ["Q4_K", 8, 1, 0xc0bce850, 0xc0bce850], ["Q4_K", 8, 4, 0xc0bce84a, 0x41e6f5f8],
  ["Q2_K", 8, 1, 0xc1311206, 0xc1311206], ["Q2_K", 8, 4, 0xc1311208, 0x41c94ddc],
  ["IQ4_XS", 8, 8, 0xc089a5b2, 0xc17a5220],
  ["F32", 4, 2, 0xc0a41b07, 0xc18ecff5], ["F16", 4, 2, 0xc0a423da, 0xc18ee346], ["BF16", 4, 2, 0xc0a2b8bc, 0xc18efd1b],
];

test("matmul picks llama.cpp's kernel per shape and batch and matches its bits", () => {
  const n = 512;
  const bits = new Uint32Array(1);
  const f = new Float32Array(bits.buffer);
  for (const [name, rows, nTokens, first, last] of KERNELS) {
    const type = T(name as (typeof WEIGHTS)[number]);
    const wf = seededNormal(n * rows, 300);
    const w = type === GgmlType.F32 ? new Uint8Array(wf.buffer, wf.byteOffset, wf.byteLength) : quantizeAny(type, wf);
    const x = seededNormal(n * nTokens, 400);
    const be = createRefBackend();
    const W = be.loadWeight(type, n, rows, w);
    const X = be.alloc(n * nTokens);
    be.write(X, x);
    const Y = be.alloc(rows * nTokens);
    be.matmul(W, X, nTokens, Y);
    const y = be.read(Y);
    f[0] = y[0]!;
    assert.equal(bits[0].toString(16), first.toString(16), `${name} rows=${rows} tokens=${nTokens}: first`);
    f[0] = y[(nTokens - 1) * rows]!;
    assert.equal(bits[0].toString(16), last.toString(16), `${name} rows=${rows} tokens=${nTokens}: last`);
  }
  assert.equal(dotKernel(GgmlType.Q4_0, 512, 12, 1), "vec_dot"); // rows % 8 ≠ 0: not repacked
  assert.equal(dotKernel(GgmlType.Q4_K, 512, 16, 6, 3), "gemm");
  assert.equal(dotKernel(GgmlType.Q4_K, 512, 16, 6, 4), "gemv");
  assert.equal(dotKernel(GgmlType.F16, 40, 16, 3), "vec_dot"); // cols % 16 ≠ 0: no tinyBLAS
});

function quantizeAny(type: GgmlType, v: Float32Array): Uint8Array {
  if (type === GgmlType.F16 || type === GgmlType.BF16) {
    const u = new Uint16Array(v.length);
    for (let i = 0; i < v.length; i++) u[i] = (type === GgmlType.F16 ? f32ToF16 : f32ToBf16)(v[i]!);
    return new Uint8Array(u.buffer);
  }
  return quantize(type, v);
}
