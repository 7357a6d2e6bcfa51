// `llamats tokenize` end to end: spawned as a user would run it.

import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync, copyFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, test } from "node:test";
import { gunzipSync } from "node:zlib";
import { readFileSync } from "node:fs";
import { FIXTURES, FIXTURES_URL } from "../fixtures-path.ts";

const ROOT = new URL("../../", import.meta.url).pathname;
const FIX = FIXTURES_URL.pathname;
const SPM = FIX + "tokenizer/llama-spm/ggml-vocab-llama-spm.gguf";

function llamats(...args: string[]): { code: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [join(ROOT, "bin/llamats.js"), ...args], { encoding: "utf8", cwd: ROOT });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

const tmp = mkdtempSync(join(tmpdir(), "llamats-tokenize-"));
after(() => rmSync(tmp, { recursive: true, force: true }));

test("prints id -> 'piece' lines with BOS, like llama-tokenize", () => {
  const r = llamats("tokenize", "-m", SPM, "-p", "Hello world");
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stdout, "     1 -> '<s>'\n 15043 -> ' Hello'\n  3186 -> ' world'\n");
});

test("--ids prints a list; --no-bos drops BOS; --special parses control tokens", () => {
  assert.equal(llamats("tokenize", "-m", SPM, "-p", "Hello world", "--ids").stdout, "[1, 15043, 3186]\n");
  assert.equal(llamats("tokenize", "-m", SPM, "-p", "Hello world", "--ids", "--no-bos").stdout, "[15043, 3186]\n");
  const plain = JSON.parse(llamats("tokenize", "-m", SPM, "-p", "</s>", "--ids", "--no-bos").stdout) as number[];
  assert.ok(!plain.includes(2));
  assert.equal(llamats("tokenize", "-m", SPM, "-p", "</s>", "--ids", "--no-bos", "--special").stdout, "[2]\n");
});

test("--json and -f", () => {
  const file = join(tmp, "prompt.txt");
  writeFileSync(file, "Once upon a time");
  const r = llamats("tokenize", "-m", FIXTURES + "models/stories260K.gguf", "-f", file, "--json");
  assert.equal(r.code, 0, r.stderr);
  assert.deepEqual(JSON.parse(r.stdout), [
    { id: 1, piece: "<s>" }, { id: 403, piece: " Once" }, { id: 407, piece: " upon" }, { id: 261, piece: " a" }, { id: 378, piece: " time" },
  ]);
});

test("a folder with tokenizer.json gives the same ids as the GGUF", () => {
  const dir = join(tmp, "llama3");
  rmSync(dir, { recursive: true, force: true });
  spawnSync("mkdir", ["-p", dir]);
  writeFileSync(join(dir, "tokenizer.json"), gunzipSync(readFileSync(FIX + "tokenizer/llama3/tokenizer.json.gz")));
  copyFileSync(FIX + "tokenizer/llama3/tokenizer_config.json", join(dir, "tokenizer_config.json"));
  const gguf = join(tmp, "llama3.gguf");
  writeFileSync(gguf, gunzipSync(readFileSync(FIX + "tokenizer/llama-bpe/ggml-vocab-llama3-bpe.derived.gguf.gz")));
  const text = "<|start_header_id|>user<|end_header_id|>\n\nThis is a test sentence. 你好";
  const a = llamats("tokenize", "-m", dir, "-p", text, "--ids", "--special");
  const b = llamats("tokenize", "-m", gguf, "-p", text, "--ids", "--special");
  assert.equal(a.code, 0, a.stderr);
  assert.equal(a.stdout, b.stdout);
  assert.equal(a.stdout, "[128000, 128006, 882, 128007, 271, 2028, 374, 264, 1296, 11914, 13, 118195, 53901]\n");
});

test("errors are one line, no stack trace", () => {
  const missing = llamats("tokenize", "-m", join(tmp, "nope.gguf"), "-p", "x");
  assert.equal(missing.code, 1);
  assert.match(missing.stderr, /^llamats: .*nope\.gguf: no such file or directory\n$/);
  const noText = llamats("tokenize", "-m", SPM);
  assert.equal(noText.code, 1);
  assert.match(noText.stderr, /exactly one of -p TEXT or -f PATH/);
  const notJson = join(tmp, "bad");
  spawnSync("mkdir", ["-p", notJson]);
  writeFileSync(join(notJson, "tokenizer.json"), "{ nope");
  const bad = llamats("tokenize", "-m", notJson, "-p", "x");
  assert.equal(bad.code, 1);
  assert.match(bad.stderr, /^llamats: .*tokenizer\.json: not valid JSON/);
  assert.ok(!bad.stderr.includes("    at "));
});

test("--help has an example", () => {
  const r = llamats("tokenize", "--help");
  assert.equal(r.code, 0);
  assert.match(r.stdout, /Examples:\n {2}llamats tokenize -m/);
});
