import { test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { MemorySink, writeGguf } from "../../src/format/gguf.ts";
import { splitGgufInput, splitPartName } from "../../src/format/gguf-split.ts";
import { syntheticLlama } from "../../src/format/synthetic.ts";
import { FIXTURES } from "../fixtures-path.ts";

const STORIES = FIXTURES + "models/stories260K.gguf";
const BIN = new URL("../../bin/llamats.js", import.meta.url).pathname;

function llamats(...args: string[]) {
  const r = spawnSync(process.execPath, [BIN, ...args], { encoding: "utf8", timeout: 60_000 });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

test("inspect prints metadata with abbreviated arrays, the tensor table and totals", () => {
  const r = llamats("inspect", STORIES);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /GGUF v3, alignment 32, tensor data at byte 14,176/);
  assert.match(r.stdout, /tokenizer\.ggml\.tokens\s+\[string\]\s+\[512 strings: "<unk>", "<s>", "<\/s>", \.\.\. \]/);
  assert.match(r.stdout, /llama\.block_count\s+u32\s+5/);
  assert.match(r.stdout, /token_embd\.weight\s+F32\s+64 × 512\s+131,072\s+0/);
  assert.match(r.stdout, /blk\.4\.ffn_up\.weight/);
  assert.match(r.stdout, /total: 48 tensors \(48 F32\), [\d,]+ bytes .*, [\d,]+ parameters/);
});

test("inspect --json: one object with metadata, tensors and the parameter count", () => {
  const r = llamats("inspect", STORIES, "--json");
  assert.equal(r.code, 0, r.stderr);
  const j = JSON.parse(r.stdout);
  assert.equal(j.format, "gguf");
  assert.equal(j.version, 3);
  assert.equal(Object.keys(j.metadata).length, 19);
  assert.equal(j.metadata["llama.embedding_length"], 64);
  assert.equal(j.metadata["tokenizer.ggml.tokens"].length, 512);
  assert.equal(j.tensors.length, 48);
  assert.deepEqual(j.tensors[0], { name: "token_embd.weight", type: "F32", shape: [64, 512], offset: 0, bytes: 131072 });
  const params = j.tensors.reduce((a: number, t: { shape: number[] }) => a + t.shape.reduce((x, y) => x * y, 1), 0);
  assert.equal(j.parameters, params);
  assert.equal(j.bytes, j.parameters * 4);
});

test("inspect reads a split model from its first part", async () => {
  const dir = mkdtempSync(join(tmpdir(), "llamats-inspect-"));
  try {
    const input = syntheticLlama({ layers: 2 });
    const parts = splitGgufInput(input, 3);
    for (let i = 0; i < 3; i++) {
      const sink = new MemorySink();
      await writeGguf(sink, parts[i]!);
      writeFileSync(join(dir, splitPartName("m", i + 1, 3)), sink.bytes());
    }
    const r = llamats("inspect", join(dir, "m-00001-of-00003.gguf"), "--json");
    assert.equal(r.code, 0, r.stderr);
    const j = JSON.parse(r.stdout);
    assert.equal(j.tensors.length, input.tensors.length);
    assert.equal(j.parts.length, 3);
    assert.deepEqual(new Set(j.tensors.map((t: { part: number }) => t.part)), new Set([1, 2, 3]));
    assert.equal(j.metadata["split.count"], undefined, "split.* keys are not part of the merged model");
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("a damaged or missing file: exit code 1 and one line on stderr, no stack", () => {
  const dir = mkdtempSync(join(tmpdir(), "llamats-inspect-"));
  try {
    const bad = join(dir, "truncated.gguf");
    writeFileSync(bad, readFileSync(STORIES).subarray(0, 5000));
    for (const path of [bad, join(dir, "missing.gguf")]) {
      const r = llamats("inspect", path);
      assert.equal(r.code, 1, r.stderr);
      assert.equal(r.stdout, "");
      const lines = r.stderr.trimEnd().split("\n");
      assert.equal(lines.length, 1, r.stderr);
      assert.doesNotMatch(r.stderr, /    at /);
      assert.match(lines[0]!, path === bad ? /^llamats: .*truncated\.gguf: .*truncated.*at byte offset \d+/ : /^llamats: .*missing\.gguf: no such file/);
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("inspect --help shows an example", () => {
  const r = llamats("inspect", "--help");
  assert.equal(r.code, 0);
  assert.match(r.stdout, /Example/);
  assert.match(r.stdout, /--json/);
});
