// Every op of the wasm backend against the reference backend (llama.cpp's x86 arithmetic in plain
// TS), bit for bit: every weight type the wasm backend has kernels for, odd shapes (rows not a
// multiple of 4 or 8 and multiples of 8, where llama.cpp's repacked kernels take over; widths not
// a multiple of the SIMD width), batch sizes 1, 2, 3, 4, 5, 8, 9 (llama.cpp picks its kernel, and
// so its rounding, by batch size: gemm on whole groups of 4 tokens, tinyBLAS from 2, the IQ panel
// gemm from 8), 1 and 2 threads, relaxed and plain SIMD kernels. The only tolerance: libm `exp`
// (the scalar tails of SiLU and softmax) is AssemblyScript's in wasm and V8's in the reference;
// they are both correctly rounded in all but rare cases, so the test data are exact today.

import { test, after } from "node:test";
import assert from "node:assert/strict";
import { GgmlType, ggmlTypeName } from "../../src/format/ggml.ts";
import { quantize } from "../../src/format/quant.ts";
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


/** Bitwise equality (so −0 ≠ 0 and NaN = NaN), naming the first difference. */
function same(a: Float32Array, b: Float32Array, what: string): void {
  assert.equal(a.length, b.length, what);
  const ua = new Uint32Array(a.buffer, a.byteOffset, a.length), ub = new Uint32Array(b.buffer, b.byteOffset, b.length);
  for (let i = 0; i < a.length; i++) {
    if (ua[i] !== ub[i]) assert.fail(`${what}: [${i}] wasm ${a[i]} vs ref ${b[i]}`);
  }
}

// Widths: float types with and without tinyBLAS's multiple of 16 (BF16: 32) and with a tail past
// the 64-lane part; IQ4_NL with an odd block count (its one-token kernel adds the last block apart).
const TYPES: [GgmlType, number][] = [
  [GgmlType.Q8_0, 96], [GgmlType.Q4_0, 160], [GgmlType.Q4_K, 512], [GgmlType.Q5_K, 512], [GgmlType.Q6_K, 256],
  [GgmlType.F32, 37], [GgmlType.F32, 208], [GgmlType.F16, 64], [GgmlType.F16, 200], [GgmlType.BF16, 40], [GgmlType.BF16, 160],
  [GgmlType.Q4_1, 64], [GgmlType.Q5_0, 96], [GgmlType.Q5_1, 64], [GgmlType.IQ4_NL, 96], [GgmlType.IQ4_NL, 128], [GgmlType.IQ4_XS, 512],
  [GgmlType.Q2_K, 512], [GgmlType.Q3_K, 256],
];
const BATCHES = [1, 2, 3, 4, 5, 8, 9];

const disposers: Backend[] = [];
after(() => { for (const b of disposers) b.dispose(); });

function put(be: Backend, data: Float32Array, dtype: "f32" | "f16" = "f32"): Buf {
  const b = be.alloc(data.length, dtype);
  be.write(b, data);
  return b;
}

for (const relaxed of [true, false]) {
  for (const threads of [1, 2]) {
    test(`wasm ops equal the reference backend bit for bit (relaxed=${relaxed}, threads=${threads})`, async () => {
      const ref = createRefBackend();
      const be = await createWasmBackend({ threads, relaxed });
      disposers.push(be);
      const rand = rng(11 + threads + (relaxed ? 100 : 0));

      for (const [type, cols] of TYPES) {
        for (const rows of [13, 24, 70]) {
          const bytes = quantize(type, new Float32Array(rows * cols).map(() => rand() * 0.2));
          const wr = ref.loadWeight(type, cols, rows, bytes), ww = be.loadWeight(type, cols, rows, bytes);
          for (const nTokens of BATCHES) {
            const x = new Float32Array(nTokens * cols).map(() => rand() * 3);
            const or = ref.alloc(nTokens * rows), ow = be.alloc(nTokens * rows);
            const xw = put(be, x);
            ref.matmul(wr, put(ref, x), nTokens, or);
            be.matmul(ww, xw, nTokens, ow);
            same(be.read(ow), ref.read(or), `${ggmlTypeName(type)} matmul ${rows}x${cols} × ${nTokens}`);
            be.free(ow);
            be.free(xw);
          }
          const ids = Int32Array.of(rows - 1, 0, 5);
          const gr = ref.alloc(3 * cols), gw = be.alloc(3 * cols);
          ref.getRows(wr, ids, gr);
          be.getRows(ww, ids, gw);
          same(be.read(gw), ref.read(gr), `${ggmlTypeName(type)} getRows`);
          be.free(gw);
          be.freeWeight(ww);
        }
      }

      // Elementwise ops, widths not a multiple of 4 or 16, sizes above and below the threading threshold.
      for (const n of [37, 70001]) {
        const a = new Float32Array(n).map(() => rand() * 16), b = new Float32Array(n).map(() => rand() * 4);
        const r = ref.alloc(n), w = be.alloc(n);
        ref.siluMul(put(ref, a), put(ref, b), n, r);
        be.siluMul(put(be, a), put(be, b), n, w);
        same(be.read(w), ref.read(r), `siluMul ${n}`);
        ref.add(put(ref, a), put(ref, b), n, r);
        be.add(put(be, a), put(be, b), n, w);
        same(be.read(w), ref.read(r), `add ${n}`);
      }
      for (const [nTok, width] of [[1, 37], [5, 2048], [19, 64]] as const) {
        const x = new Float32Array(nTok * width).map(() => rand() * 5), g = new Float32Array(width).map(() => 1 + rand());
        const r = ref.alloc(nTok * width), w = be.alloc(nTok * width);
        for (const eps of [1e-5, Math.fround(1e-6)]) {
          ref.rmsNorm(put(ref, x), ref.loadVector(g), nTok, width, eps, r);
          be.rmsNorm(put(be, x), be.loadVector(g), nTok, width, eps, w);
          same(be.read(w), ref.read(r), `rmsNorm ${nTok}x${width} eps ${eps}`);
        }
        const xr = put(ref, x), xw = put(be, x);
        ref.addBias(xr, ref.loadVector(g), nTok, width);
        be.addBias(xw, be.loadVector(g), nTok, width);
        same(be.read(xw), ref.read(xr), "addBias");
        const rows = Int32Array.of(nTok - 1, 0);
        const dr = ref.alloc(2 * width), dw = be.alloc(2 * width);
        ref.gatherRows(xr, width, rows, dr);
        be.gatherRows(xw, width, rows, dw);
        same(be.read(dw), ref.read(dr), "gatherRows");
      }
      for (const neox of [false, true]) {
        const nTok = 5, nHeads = 6, headDim = 64;
        const x = new Float32Array(nTok * nHeads * headDim).map(() => rand() * 2);
        const pos = Int32Array.of(0, 1, 7, 100, 3000);
        const p = { dims: 48, freqBase: 10000, freqScale: 1, neox };
        const xr = put(ref, x), xw = put(be, x);
        ref.rope(xr, nTok, nHeads, headDim, pos, p);
        be.rope(xw, nTok, nHeads, headDim, pos, p);
        same(be.read(xw), ref.read(xr), `rope neox=${neox}`);
      }

      // KV cache (f32 and f16) and attention with GQA, causal spans, non-contiguous cells. The
      // cache size sets n_kv (used cells rounded up to 256, at most the cache): 21 cells put every
      // cell in the products' tails, 300 gives a 256-cell vector part plus a tail, 512 none.
      // GQA groups of 4, 3 and 1; head sizes with and without tinyBLAS's multiple of 16 (KQ) and
      // past the 64-lane part; 1 token (vec_dot) and several (tinyBLAS).
      const attnCases = [
        ["f32", 8, 2, 40, 21, 4], ["f16", 8, 2, 40, 21, 4], ["f16", 6, 2, 36, 21, 1], ["f32", 3, 1, 18, 21, 1], ["f16", 4, 4, 20, 21, 4],
        ["f16", 4, 2, 64, 300, 1], ["f16", 4, 2, 80, 300, 3], ["f32", 4, 2, 64, 300, 2], ["f32", 2, 1, 96, 300, 1],
        ["f16", 4, 1, 64, 512, 5], ["f32", 2, 1, 32, 512, 1], ["f32", 4, 2, 36, 512, 2],
        // Peaked scores: many probabilities in f16's subnormal range or flushed to 0.
        ["f16", 4, 1, 64, 300, 2, 12], ["f16", 2, 2, 32, 21, 1, 12], ["f32", 4, 2, 64, 300, 1, 12],
      ] as const;
      for (const [dtype, nHeads, nKvHeads, headDim, cellsN, nTokens, amp = 2] of attnCases) {
        const kvW = nKvHeads * headDim;
        const kr = ref.alloc(cellsN * kvW, dtype), vr = ref.alloc(cellsN * kvW, dtype);
        const kw = be.alloc(cellsN * kvW, dtype), vw = be.alloc(cellsN * kvW, dtype);
        const used = Math.min(cellsN - 4, 17 + nTokens);
        const order = Int32Array.from({ length: used }, (_, i) => (i * 5 + (cellsN > 256 ? 200 : 0)) % cellsN);
        const kd = new Float32Array(order.length * kvW).map(() => rand() * 2), vd = new Float32Array(order.length * kvW).map(() => rand() * 2);
        ref.setRows(kr, kvW, order, put(ref, kd)); ref.setRows(vr, kvW, order, put(ref, vd));
        be.setRows(kw, kvW, order, put(be, kd)); be.setRows(vw, kvW, order, put(be, vd));
        same(be.read(kw), ref.read(kr), `setRows ${dtype}`);
        const span = {
          cells: order,
          start: new Int32Array(nTokens),
          count: Int32Array.from({ length: nTokens }, (_, t) => used - nTokens + 1 + t),
        };
        const shape = { nTokens, nHeads, nKvHeads, headDim, scale: 1 / Math.sqrt(headDim) };
        const q = new Float32Array(nTokens * nHeads * headDim).map(() => rand() * amp);
        const outR = ref.alloc(q.length), outW = be.alloc(q.length);
        ref.attention(put(ref, q), kr, vr, span, shape, outR);
        be.attention(put(be, q), kw, vw, span, shape, outW);
        same(be.read(outW), ref.read(outR), `attention ${dtype} ${nHeads}/${nKvHeads}×${headDim}, ${cellsN} cells, ${nTokens} tokens`);
        // In place (out aliasing q), as the model calls it.
        const qw = put(be, q);
        be.attention(qw, kw, vw, span, shape, qw);
        same(be.read(qw), ref.read(outR), `attention in place ${dtype} ${nHeads}/${nKvHeads}×${headDim}`);
      }
    });
  }
}
