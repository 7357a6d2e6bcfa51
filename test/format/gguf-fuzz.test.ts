// 2,400 seeded mutations of real fixture files: each parses (and its tensors read) or throws a
// GgufError with an offset; nothing else escapes and no case is slow. `npm run fuzz:long` runs 10^5.

import { test } from "node:test";
import assert from "node:assert/strict";
import { join } from "node:path";
import { corpus, fuzz } from "./gguf-fuzz-lib.ts";
import { FIXTURES } from "./fixtures.ts";

test("fuzz: 2,400 mutated GGUF files give a model or a GgufError", { timeout: 120_000 }, async () => {
  const corpora = [
    "models/stories260K.gguf",
    "models/quantized/stories260K-q8_0-mix.gguf",
    "models/quantized/stories260K-q5_1-mix.gguf",
    "models/llama-2-tiny-random.gguf",
  ].map((p) => corpus(join(FIXTURES, p)));
  // The 32000-token file costs ~10× the others per case; it still gets a share.
  const report = await fuzz(corpora, 2400, 20260101, [3, 3, 3, 1]);
  assert.equal(report.cases, 2400);
  assert.ok(report.errors > 1000, `only ${report.errors} cases failed to parse: mutations too weak?`);
  assert.ok(report.parsed > 0);
  // Bounded per-case time (a count-driven loop or allocation would take seconds).
  assert.ok(report.maxCaseMs < 2000, `slowest case ${report.maxCaseMs.toFixed(0)} ms: ${report.maxCase}`);
});
