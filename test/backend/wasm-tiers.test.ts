// V8 compiles wasm twice: a baseline tier (Liftoff) first, an optimizing tier (TurboFan) for hot
// functions. Node 20's Liftoff computed i32x4.relaxed_dot_i8x16_i7x16_add_s wrongly, so the parity
// suite runs once pinned to each tier (V8 flags are process-wide, so workers follow).

import { test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { fileURLToPath } from "node:url";

const parity = fileURLToPath(new URL("./wasm-parity.test.ts", import.meta.url));

for (const [tier, flags] of [["baseline (Liftoff only)", ["--liftoff-only"]], ["optimized (TurboFan only)", ["--no-liftoff"]]] as const) {
  test(`wasm parity holds in the ${tier} tier`, () => {
    // A clean environment: inheriting NODE_TEST_CONTEXT would switch the child to the runner's binary protocol.
    const env = { ...process.env };
    delete env.NODE_TEST_CONTEXT;
    const r = spawnSync(process.execPath, [...flags, "--test-reporter=tap", parity], { encoding: "utf8", timeout: 120_000, env });
    assert.equal(r.status, 0, `${r.stdout}\n${r.stderr}`);
    assert.match(r.stdout, /# pass 4/);
    assert.match(r.stdout, /# fail 0/);
  });
}
