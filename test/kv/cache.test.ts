import { test } from "node:test";
import assert from "node:assert/strict";
import { KvCache } from "../../src/kv/cache.ts";
import { createRefBackend } from "../../src/backend/ref/index.ts";

const make = (nCells = 8) => new KvCache(createRefBackend(), { nLayers: 2, nCells, width: 4, dtype: "f32" });

test("placing tokens appends them to their sequences with causal spans", () => {
  const kv = make();
  const a = kv.place(Int32Array.of(0, 0, 0));
  assert.deepEqual([...a.positions], [0, 1, 2]);
  assert.deepEqual([...a.span.count], [1, 2, 3]);
  // A mixed batch: two more tokens of seq 0 and the first two of seq 1.
  const b = kv.place(Int32Array.of(0, 1, 0, 1));
  assert.deepEqual([...b.positions], [3, 0, 4, 1]);
  assert.deepEqual([...b.span.count], [4, 1, 5, 2]);
  for (let t = 0; t < 4; t++) {
    const visible = [...b.span.cells.subarray(b.span.start[t]!, b.span.start[t]! + b.span.count[t]!)];
    // The last visible cell is the token's own cell.
    assert.equal(visible.at(-1), b.cells[t]);
  }
  assert.equal(kv.length(0), 5);
  assert.equal(kv.length(1), 2);
  assert.equal(kv.usedCells, 7);
});

test("truncate frees cells; a full cache refuses a batch without changing anything", () => {
  const kv = make(4);
  kv.place(Int32Array.of(0, 0, 0));
  assert.throws(() => kv.place(Int32Array.of(1, 1)), /context is full.*2 more tokens.*1 free/);
  assert.equal(kv.length(1), 0);
  kv.truncate(0, 1);
  assert.equal(kv.usedCells, 1);
  const p = kv.place(Int32Array.of(0, 0, 0));
  assert.deepEqual([...p.positions], [1, 2, 3]);
});

test("copy shares a prefix; cells are freed only when no sequence holds them", () => {
  const kv = make(6);
  kv.place(Int32Array.of(0, 0, 0, 0));
  kv.copy(0, 1, 3);
  assert.equal(kv.length(1), 3);
  assert.equal(kv.usedCells, 4);
  const p = kv.place(Int32Array.of(1));
  assert.equal(p.positions[0], 3);
  assert.equal(kv.usedCells, 5);
  kv.remove(0);
  assert.equal(kv.usedCells, 4); // seq 1 still holds 3 shared cells + its own
  kv.remove(1);
  assert.equal(kv.usedCells, 0);
});
