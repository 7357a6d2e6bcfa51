// Matmul of the wasm backend against a scalar oracle: weights from quant.ts, activations quantized
// the llama.cpp way (Q8_0 / Q8_K / F16 / BF16) in plain TS, dot products in double. Same integer
// math, so the only differences are float summation order. Odd shapes, 1 and 2 threads, relaxed
// and plain SIMD kernels.

import { test, after } from "node:test";
import assert from "node:assert/strict";
import { GgmlType, ggmlTypeName } from "../../src/format/ggml.ts";
import { dequantize, quantize } from "../../src/format/quant.ts";
import { f16ToF32, f32ToF16, bf16ToF32, f32ToBf16 } from "../../src/format/f16.ts";
import { createWasmBackend } from "../../src/backend/wasm/index.ts";
import type { WasmBackend } from "../../src/backend/wasm/index.ts";

function rng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s / 2 ** 32 - 0.5;
  };
}

const fr = Math.fround;

/** Activation values after llama.cpp's quantization to the weight's dot type. */
function quantAct(type: GgmlType, x: Float32Array): Float64Array {
  const n = x.length, out = new Float64Array(n);
  if (type === GgmlType.F32) { out.set(x); return out; }
  if (type === GgmlType.F16) { for (let i = 0; i < n; i++) out[i] = f16ToF32(f32ToF16(x[i]!)); return out; }
  if (type === GgmlType.BF16) { for (let i = 0; i < n; i++) out[i] = bf16ToF32(f32ToBf16(x[i]!)); return out; }
  if (type === GgmlType.Q4_K || type === GgmlType.Q6_K) {
    for (let b = 0; b < n; b += 256) {
      let amax = 0, max = 0;
      for (let j = b; j < b + 256; j++) if (Math.abs(x[j]!) > amax) { amax = Math.abs(x[j]!); max = x[j]!; }
      if (amax === 0) continue;
      const iscale = fr(-127 / max);
      const d = fr(1 / iscale);
      for (let j = b; j < b + 256; j++) {
        const v = fr(iscale * x[j]!);
        const r = Math.round(v) - (v % 1 === -0.5 || v % 1 === 0.5 ? (Math.round(v) % 2 !== 0 ? 1 : 0) : 0); // half to even
        out[j] = d * Math.min(127, r);
      }
    }
    return out;
  }
  for (let b = 0; b < n; b += 32) {
    let amax = 0;
    for (let j = b; j < b + 32; j++) amax = Math.max(amax, Math.abs(x[j]!));
    // llama.cpp's x86 path: multiplier 127/max, round half to even.
    const d = fr(amax / 127), id = amax ? fr(127 / amax) : 0;
    const dh = f16ToF32(f32ToF16(d));
    for (let j = b; j < b + 32; j++) {
      const v = fr(x[j]! * id);
      let q = Math.round(v);
      if (q - v === 0.5 && (q & 1) !== 0) q -= 1;
      out[j] = dh * q;
    }
  }
  return out;
}


function decode(type: GgmlType, bytes: Uint8Array, n: number): Float32Array {
  if (type === GgmlType.F32) return new Float32Array(bytes.slice().buffer);
  return dequantize(type, bytes, n);
}

const TYPES: [GgmlType, number][] = [
  [GgmlType.Q8_0, 96], [GgmlType.Q4_0, 160], [GgmlType.Q4_K, 512], [GgmlType.Q6_K, 512],
  [GgmlType.F32, 37], [GgmlType.F16, 45], [GgmlType.BF16, 40],
];

const backends: WasmBackend[] = [];
after(() => { for (const b of backends) b.dispose(); });

for (const relaxed of [true, false]) {
  for (const threads of [1, 2]) {
    test(`wasm matmul matches the scalar oracle (relaxed=${relaxed}, threads=${threads})`, async () => {
      const be = await createWasmBackend({ threads, relaxed });
      backends.push(be);
      assert.equal(be.relaxed, relaxed);
      const rand = rng(7 + threads);
      for (const [type, cols] of TYPES) {
        for (const [rows, nTokens] of [[13, 1], [7, 3], [64, 5]] as const) {
          const wf = new Float32Array(rows * cols).map(() => rand() * 0.2);
          const bytes = quantize(type, wf);
          const wd = decode(type, bytes, rows * cols);
          const x = new Float32Array(nTokens * cols).map(() => rand() * 4);
          const w = be.loadWeight(type, cols, rows, bytes);
          const xb = be.alloc(nTokens * cols), ob = be.alloc(nTokens * rows);
          be.write(xb, x);
          // Run twice: the second run must give the same bits (no state leaks between calls).
          be.matmul(w, xb, nTokens, ob);
          const got = be.read(ob);
          be.matmul(w, xb, nTokens, ob);
          assert.deepEqual(be.read(ob), got);
          for (let t = 0; t < nTokens; t++) {
            const a = quantAct(type, x.subarray(t * cols, (t + 1) * cols));
            for (let r = 0; r < rows; r++) {
              let ref = 0, mag = 0;
              for (let c = 0; c < cols; c++) { ref += wd[r * cols + c]! * a[c]!; mag += Math.abs(wd[r * cols + c]! * a[c]!); }
              const g = got[t * rows + r]!;
              assert.ok(Math.abs(g - ref) <= 2e-6 * mag + 1e-7,
                `${ggmlTypeName(type)} ${rows}x${cols} t=${t} r=${r}: ${g} vs ${ref} (mag ${mag})`);
            }
          }
          // getRows dequantizes exactly like quant.ts.
          const ids = Int32Array.of(rows - 1, 0, Math.floor(rows / 2));
          const rb = be.alloc(ids.length * cols);
          be.getRows(w, ids, rb);
          const rowsGot = be.read(rb);
          for (let i = 0; i < ids.length; i++) {
            assert.deepEqual(rowsGot.subarray(i * cols, (i + 1) * cols), wd.subarray(ids[i]! * cols, (ids[i]! + 1) * cols), `${ggmlTypeName(type)} getRows`);
          }
          be.free(xb); be.free(ob); be.free(rb); be.freeWeight(w);
        }
      }
    });
  }
}

// matmulMany (Q/K/V, gate/up in one dispatch) must give the bits of one matmul per weight: with
// weights of one type (a single quantization and dispatch, row groups of several weights in one
// chunk) and of mixed activation formats (the per-weight fallback), rows not a multiple of 4.
for (const threads of [1, 2]) {
  test(`wasm matmulMany equals separate matmuls bit for bit (threads=${threads})`, async () => {
    const be = await createWasmBackend({ threads });
    backends.push(be);
    const rand = rng(31 + threads);
    const groups: [GgmlType, number][][] = [
      [[GgmlType.Q4_0, 64], [GgmlType.Q4_0, 13], [GgmlType.Q4_0, 24]],
      [[GgmlType.Q4_K, 30], [GgmlType.Q4_K, 9]],
      [[GgmlType.Q4_K, 16], [GgmlType.Q6_K, 7], [GgmlType.Q4_K, 5]],
      [[GgmlType.Q8_0, 21], [GgmlType.Q4_K, 12], [GgmlType.F16, 6]],
    ];
    const cols = 512;
    for (const group of groups) {
      for (const nTokens of [1, 2, 5, 9]) {
        const ws = group.map(([type, rows]) => be.loadWeight(type, cols, rows, quantize(type, new Float32Array(rows * cols).map(() => rand() * 0.2))));
        const xb = be.alloc(nTokens * cols);
        be.write(xb, new Float32Array(nTokens * cols).map(() => rand() * 4));
        const one = group.map(([, rows]) => be.alloc(nTokens * rows)), many = group.map(([, rows]) => be.alloc(nTokens * rows));
        ws.forEach((w, i) => be.matmul(w, xb, nTokens, one[i]!));
        be.matmulMany(ws, xb, nTokens, many);
        group.forEach(([type, rows], i) => assert.deepEqual(be.read(many[i]!), be.read(one[i]!), `${ggmlTypeName(type)} ${rows} rows, ${nTokens} tokens`));
        for (const b of [xb, ...one, ...many]) be.free(b);
        for (const w of ws) be.freeWeight(w);
      }
    }
  });
}
