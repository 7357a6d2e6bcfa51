// Every op of the wasm backend against the reference backend (llama.cpp's arithmetic in plain TS):
// every weight type the wasm backend has kernels for, odd shapes (rows not a multiple of the
// thread count or of 4, widths not a multiple of the SIMD width, 1 and several tokens), 1 and 2
// threads, relaxed and plain SIMD kernels. Same integer math, so tolerances are tight.

import { test, after } from "node:test";
import assert from "node:assert/strict";
import { GgmlType, ggmlTypeName } from "../../src/format/ggml.ts";
import { quantize } from "../../src/format/quant.ts";
import { f32ToF16, f32ToBf16 } from "../../src/format/f16.ts";
import { createRefBackend } from "../../src/backend/ref/index.ts";
import { createWasmBackend } from "../../src/backend/wasm/index.ts";
import type { Backend, Buf } from "../../src/backend/types.ts";

function rng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s / 2 ** 32 - 0.5;
  };
}

function encode(type: GgmlType, w: Float32Array): Uint8Array {
  if (type === GgmlType.F32) return new Uint8Array(w.buffer.slice(0));
  if (type === GgmlType.F16 || type === GgmlType.BF16) {
    const h = new Uint16Array(w.length);
    for (let i = 0; i < w.length; i++) h[i] = type === GgmlType.F16 ? f32ToF16(w[i]!) : f32ToBf16(w[i]!);
    return new Uint8Array(h.buffer);
  }
  return quantize(type, w);
}

/** |a − b| ≤ rel·max|b| + abs elementwise. */
function close(a: Float32Array, b: Float32Array, rel: number, what: string, abs = 0): void {
  assert.equal(a.length, b.length, what);
  let m = 0;
  for (const v of b) m = Math.max(m, Math.abs(v));
  for (let i = 0; i < a.length; i++) {
    if (!(Math.abs(a[i]! - b[i]!) <= rel * m + abs)) assert.fail(`${what}: [${i}] ${a[i]} vs ${b[i]} (max ${m})`);
  }
}

const TYPES: [GgmlType, number][] = [
  [GgmlType.Q8_0, 96], [GgmlType.Q4_0, 160], [GgmlType.Q4_K, 512], [GgmlType.Q5_K, 512], [GgmlType.Q6_K, 256],
  [GgmlType.F32, 37], [GgmlType.F16, 64], [GgmlType.BF16, 40],
  [GgmlType.Q4_1, 64], [GgmlType.Q5_0, 96], [GgmlType.Q5_1, 64], [GgmlType.IQ4_NL, 96], [GgmlType.IQ4_XS, 512],
  [GgmlType.Q2_K, 512], [GgmlType.Q3_K, 256],
];

const disposers: Backend[] = [];
after(() => { for (const b of disposers) b.dispose(); });

function put(be: Backend, data: Float32Array, dtype: "f32" | "f16" = "f32"): Buf {
  const b = be.alloc(data.length, dtype);
  be.write(b, data);
  return b;
}

for (const relaxed of [true, false]) {
  for (const threads of [1, 2]) {
    test(`wasm ops match the reference backend (relaxed=${relaxed}, threads=${threads})`, async () => {
      const ref = createRefBackend();
      const be = await createWasmBackend({ threads, relaxed });
      disposers.push(be);
      const rand = rng(11 + threads + (relaxed ? 100 : 0));

      for (const [type, cols] of TYPES) {
        for (const [rows, nTokens] of [[13, 1], [24, 3], [70, 6]] as const) {
          const bytes = encode(type, new Float32Array(rows * cols).map(() => rand() * 0.2));
          const x = new Float32Array(nTokens * cols).map(() => rand() * 3);
          const wr = ref.loadWeight(type, cols, rows, bytes), ww = be.loadWeight(type, cols, rows, bytes);
          const or = ref.alloc(nTokens * rows), ow = be.alloc(nTokens * rows);
          ref.matmul(wr, put(ref, x), nTokens, or);
          be.matmul(ww, put(be, x), nTokens, ow);
          close(be.read(ow), ref.read(or), 3e-6, `${ggmlTypeName(type)} matmul ${rows}x${cols} × ${nTokens}`);
          const ids = Int32Array.of(rows - 1, 0, 5);
          const gr = ref.alloc(3 * cols), gw = be.alloc(3 * cols);
          ref.getRows(wr, ids, gr);
          be.getRows(ww, ids, gw);
          assert.deepEqual(be.read(gw), ref.read(gr), `${ggmlTypeName(type)} getRows`);
        }
      }

      // Elementwise ops, widths not a multiple of 4, sizes above and below the threading threshold.
      for (const n of [37, 70001]) {
        const a = new Float32Array(n).map(() => rand() * 16), b = new Float32Array(n).map(() => rand() * 4);
        const r = ref.alloc(n), w = be.alloc(n);
        ref.siluMul(put(ref, a), put(ref, b), n, r);
        be.siluMul(put(be, a), put(be, b), n, w);
        close(be.read(w), ref.read(r), 1e-6, `siluMul ${n}`);
        ref.add(put(ref, a), put(ref, b), n, r);
        be.add(put(be, a), put(be, b), n, w);
        assert.deepEqual(be.read(w), ref.read(r), `add ${n}`);
      }
      for (const [nTok, width] of [[1, 37], [5, 2048], [19, 64]] as const) {
        const x = new Float32Array(nTok * width).map(() => rand() * 5), g = new Float32Array(width).map(() => 1 + rand());
        const r = ref.alloc(nTok * width), w = be.alloc(nTok * width);
        ref.rmsNorm(put(ref, x), ref.loadVector(g), nTok, width, 1e-5, r);
        be.rmsNorm(put(be, x), be.loadVector(g), nTok, width, 1e-5, w);
        close(be.read(w), ref.read(r), 1e-6, `rmsNorm ${nTok}x${width}`);
        const xr = put(ref, x), xw = put(be, x);
        ref.addBias(xr, ref.loadVector(g), nTok, width);
        be.addBias(xw, be.loadVector(g), nTok, width);
        assert.deepEqual(be.read(xw), ref.read(xr), "addBias");
        const rows = Int32Array.of(nTok - 1, 0);
        const dr = ref.alloc(2 * width), dw = be.alloc(2 * width);
        ref.gatherRows(xr, width, rows, dr);
        be.gatherRows(xw, width, rows, dw);
        assert.deepEqual(be.read(dw), ref.read(dr), "gatherRows");
      }
      for (const neox of [false, true]) {
        const nTok = 5, nHeads = 6, headDim = 64;
        const x = new Float32Array(nTok * nHeads * headDim).map(() => rand() * 2);
        const pos = Int32Array.of(0, 1, 7, 100, 3000);
        const p = { dims: 48, freqBase: 10000, freqScale: 1, neox };
        const xr = put(ref, x), xw = put(be, x);
        ref.rope(xr, nTok, nHeads, headDim, pos, p);
        be.rope(xw, nTok, nHeads, headDim, pos, p);
        close(be.read(xw), ref.read(xr), 2e-6, `rope neox=${neox}`);
      }

      // KV cache (f32 and f16) and attention with GQA, causal spans, non-contiguous cells.
      // GQA groups of 4, 3 (not a multiple of the 4-head pass) and 1; head sizes with a scalar tail.
      for (const [dtype, nHeads, nKvHeads, headDim] of [["f32", 8, 2, 40], ["f16", 8, 2, 40], ["f16", 6, 2, 36], ["f32", 3, 1, 18], ["f16", 4, 4, 20]] as const) {
        const cellsN = 21, kvW = nKvHeads * headDim;
        const kr = ref.alloc(cellsN * kvW, dtype), vr = ref.alloc(cellsN * kvW, dtype);
        const kw = be.alloc(cellsN * kvW, dtype), vw = be.alloc(cellsN * kvW, dtype);
        const order = Int32Array.from({ length: 17 }, (_, i) => (i * 5) % cellsN);
        const kd = new Float32Array(order.length * kvW).map(() => rand() * 2), vd = new Float32Array(order.length * kvW).map(() => rand() * 2);
        ref.setRows(kr, kvW, order, put(ref, kd)); ref.setRows(vr, kvW, order, put(ref, vd));
        be.setRows(kw, kvW, order, put(be, kd)); be.setRows(vw, kvW, order, put(be, vd));
        assert.deepEqual(be.read(kw), ref.read(kr), `setRows ${dtype}`);
        const nTokens = 4;
        const span = { cells: order, start: Int32Array.of(0, 0, 0, 0), count: Int32Array.of(14, 15, 16, 17) };
        const shape = { nTokens, nHeads, nKvHeads, headDim, scale: 1 / Math.sqrt(headDim) };
        const q = new Float32Array(nTokens * nHeads * headDim).map(() => rand() * 2);
        const outR = ref.alloc(q.length), outW = be.alloc(q.length);
        ref.attention(put(ref, q), kr, vr, span, shape, outR);
        be.attention(put(be, q), kw, vw, span, shape, outW);
        // With an f16 cache the probabilities are rounded to f16, so a last-bit difference in the
        // softmax can move one p by an f16 ulp (2^-11 relative): hence the looser f16 bound.
        close(be.read(outW), ref.read(outR), dtype === "f16" ? 2e-4 : 2e-5, `attention ${dtype} ${nHeads}/${nKvHeads}×${headDim}`);
      }
    });
  }
}
