// Memory management of the wasm backend: the 4 GiB wasm32 ceiling gives a clear user error, freed
// buffers and weights are reused, and buffers keep their contents across memory growth.

import { test } from "node:test";
import assert from "node:assert/strict";
import { isUserError } from "../../src/errors.ts";
import { GgmlType } from "../../src/format/ggml.ts";
import { createWasmBackend } from "../../src/backend/wasm/index.ts";

test("wasm backend: over 4 GiB is a clear error; freed memory is reused; growth keeps data", async () => {
  const be = await createWasmBackend({ threads: 2 });
  try {
    assert.throws(() => be.alloc(1.2 * 2 ** 30), (e: unknown) => isUserError(e) && /4 GiB/.test((e as Error).message));
    const a = be.alloc(1000);
    be.write(a, new Float32Array(1000).fill(3));
    const before = be.heapBytes;
    for (let i = 0; i < 5; i++) be.free(be.alloc(1 << 20)); // the same range each time
    assert.equal(be.heapBytes, before);
    const big = be.alloc(64 << 20); // forces memory.grow
    be.write(big, new Float32Array(4).fill(7), (64 << 20) - 4);
    assert.deepEqual(Array.from(be.read(a, 995, 5)), [3, 3, 3, 3, 3]);
    assert.deepEqual(Array.from(be.read(big, (64 << 20) - 4)), [7, 7, 7, 7]);
    const w = be.loadWeight(GgmlType.F32, 4, 2, new Uint8Array(32));
    be.freeWeight(w);
    be.free(big);
    be.free(a);
    assert.throws(() => be.loadWeight(GgmlType.I32 as GgmlType, 4, 2, new Uint8Array(32)), isUserError);
  } finally {
    be.dispose();
  }
});
