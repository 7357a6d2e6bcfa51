import { test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { readFileSync, writeFileSync, mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { FIXTURES_URL } from "../fixtures-path.ts";

const ROOT = new URL("../../", import.meta.url).pathname;
const MODEL = join(ROOT, "models/stories260K.gguf");
const expected = JSON.parse(readFileSync(new URL("models/stories260K.expected.json", FIXTURES_URL), "utf8"));
const story = expected.cases.find((c: { name: string }) => c.name === "greedy_once_upon_a_time");

const cli = (...args: string[]) => spawnSync(process.execPath, [join(ROOT, "bin/llamats.js"), ...args], { encoding: "utf8", cwd: ROOT });

test("run --json gives llama.cpp's prompt tokens and greedy tokens", () => {
  const r = cli("run", "-m", MODEL, "-p", "Once upon a time", "-n", "20", "--temp", "0", "--json");
  assert.equal(r.status, 0, r.stderr);
  const out = JSON.parse(r.stdout);
  assert.deepEqual(out.prompt_tokens, story.prompt_tokens);
  assert.deepEqual(out.tokens, story.generated_tokens.slice(0, 20));
  assert.equal(out.finish_reason, "length");
  assert.ok(out.timings.predicted_per_second > 0);
});

test("run streams the text to stdout and timings to stderr", () => {
  const r = cli("run", "-m", MODEL, "-p", "Once upon a time", "-n", "12", "--temp", "0");
  assert.equal(r.status, 0, r.stderr);
  assert.ok(story.stdout_text.startsWith("Once upon a time" + r.stdout.trimEnd()), JSON.stringify(r.stdout));
  assert.match(r.stderr, /generation: 12 tokens, [\d.]+ tok\/s/);
});

test("user errors are one line with exit code 1", () => {
  const missing = cli("run", "-m", "/nonexistent/model.gguf", "-p", "x");
  assert.equal(missing.status, 1);
  assert.equal(missing.stderr.trim().split("\n").length, 1, missing.stderr);
  assert.doesNotMatch(missing.stderr, /\n\s+at /);
  const noPrompt = cli("run", "-m", MODEL);
  assert.equal(noPrompt.status, 1);
  assert.match(noPrompt.stderr, /give a prompt/);
  const tooLong = cli("run", "-m", MODEL, "-c", "8", "-p", "Once upon a time there was a little girl named Lily who loved to play");
  assert.equal(tooLong.status, 1);
  assert.match(tooLong.stderr, /context holds 8 \(\d+ too many\)/);
});

test("perplexity prints llama.cpp's PPL line and --json", () => {
  const dir = mkdtempSync(join(tmpdir(), "llamats-ppl-"));
  const file = join(dir, "story.txt");
  writeFileSync(file, expected.cases.map((c: { stdout_text: string }) => c.stdout_text).join("\n"));
  const r = cli("perplexity", "-m", MODEL, "-f", file, "-c", "64");
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, /^PPL = \d+\.\d{4} \+\/- \d+\.\d+ \(\d+ chunks/);
  const j = cli("perplexity", "-m", MODEL, "-f", file, "-c", "64", "--json");
  const { ppl } = JSON.parse(j.stdout);
  assert.ok(ppl > 1 && ppl < 3, `ppl ${ppl}`);
  const short = cli("perplexity", "-m", MODEL, "-f", file, "-c", "512");
  assert.equal(short.status, 1);
  assert.match(short.stderr, /needs at least 1024 tokens/);
});
