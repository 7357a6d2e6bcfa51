import { test, after } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { writeGguf } from "../../src/format/gguf.ts";
import { GgmlType } from "../../src/format/ggml.ts";
import { syntheticLlama } from "../../src/format/synthetic.ts";
import { FileSink } from "../../src/node/file-sink.ts";
import { readGguf } from "../../src/format/gguf.ts";
import { FileSource } from "../../src/node/file-source.ts";

const ROOT = new URL("../../", import.meta.url).pathname;
const MODEL = join(ROOT, "models/stories260K.gguf");
const cli = (...args: string[]) => spawnSync(process.execPath, [join(ROOT, "bin/llamats.js"), ...args], { encoding: "utf8", cwd: ROOT });
const dir = mkdtempSync(join(tmpdir(), "llamats-cli-"));
after(() => rmSync(dir, { recursive: true, force: true }));

test("every command has --help with an example, and the top-level help lists them all", () => {
  const top = cli("--help");
  assert.equal(top.status, 0);
  const commands = ["inspect", "run", "perplexity", "tokenize", "serve", "chat", "quantize", "convert", "bench"];
  for (const c of commands) {
    assert.match(top.stdout, new RegExp(`^\\s+${c}\\b`, "m"), `top-level help lists ${c}`);
    const h = cli(c, "--help");
    assert.equal(h.status, 0, `${c} --help: ${h.stderr}`);
    assert.match(h.stdout, /^Usage: llamats /m, c);
    assert.match(h.stdout, /Examples?:\n\s+llamats /, `${c} --help shows an example`);
  }
});

test("bench --json has llama-bench's fields for the pp and tg tests; the table has its columns", () => {
  const r = cli("bench", "-m", MODEL, "-p", "8", "-n", "4", "-r", "2", "--json");
  assert.equal(r.status, 0, r.stderr);
  const rows = JSON.parse(r.stdout);
  assert.equal(rows.length, 2);
  assert.deepEqual(rows.map((x: { test: string }) => x.test), ["pp8", "tg4"]);
  for (const x of rows) {
    for (const k of ["model_filename", "model_type", "model_size", "model_n_params", "backend", "n_threads", "n_prompt", "n_gen", "avg_ns", "stddev_ns", "avg_ts", "stddev_ts"]) {
      assert.ok(k in x, k);
    }
    assert.equal(x.samples_ns.length, 2);
    assert.ok(x.avg_ts > 0 && Number.isFinite(x.stddev_ts));
    assert.equal(x.model_n_params, 292_800);
  }
  assert.equal(rows[0].n_prompt, 8);
  assert.equal(rows[1].n_gen, 4);
  const t = cli("bench", "-m", MODEL, "-p", "4", "-n", "0", "-r", "1");
  assert.equal(t.status, 0, t.stderr);
  const lines = t.stdout.trim().split("\n");
  assert.match(lines[0]!, /^\| model +\| +size \| +params \| backend \| threads \| +test \| +t\/s \|$/);
  assert.match(lines[2]!, /\| +pp4 \| +[\d.]+ ± [\d.]+ \|$/);
  assert.equal(lines.length, 3);
});

test("quantize through the binary: output parses with the mixture's types; --dry-run; errors", async () => {
  const src = join(dir, "f16.gguf");
  const sink = await FileSink.create(src);
  await writeGguf(sink, syntheticLlama({ vocabSize: 300, dim: 256, layers: 2, heads: 4, ffn: 256, type: (_, s) => (s.length === 2 ? GgmlType.F16 : GgmlType.F32) }));
  await sink.close();
  const out = join(dir, "q4km.gguf");
  const r = cli("quantize", src, out, "q4_k_m", "--threads", "2");
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stderr, /quantize: .*Q4_K_M, 21 tensors \(.*\), [\d.]+ MiB → [\d.]+ MiB/);
  const f = await readGguf(await FileSource.open(out));
  try {
    assert.equal(f.metadata.get("general.file_type"), 15);
    // two layers: use_more_bits(i, 2) holds for layer 1 only (i >= 7·2/8), so its attn_v and ffn_down are Q6_K
    const types = Object.fromEntries(f.tensors.map((t) => [t.name, t.type]));
    assert.equal(types["blk.1.attn_v.weight"], GgmlType.Q6_K);
    assert.equal(types["blk.1.ffn_down.weight"], GgmlType.Q6_K);
    assert.equal(types["blk.0.attn_v.weight"], GgmlType.Q4_K);
    assert.equal(types["blk.0.ffn_down.weight"], GgmlType.Q4_K);
    assert.equal(types["blk.0.ffn_up.weight"], GgmlType.Q4_K);
    assert.equal(types["output.weight"], GgmlType.Q6_K);
    assert.equal(types["blk.0.attn_norm.weight"], GgmlType.F32);
  } finally {
    await f.close();
  }
  const dry = cli("quantize", src, join(dir, "unused.gguf"), "Q3_K_M", "--dry-run");
  assert.equal(dry.status, 0, dry.stderr);
  assert.match(dry.stdout, /blk\.0\.attn_v\.weight +256 × 256 +F16 +→ Q5_K/);
  assert.match(dry.stdout, /^total: 21 tensors/m);

  const bad = cli("quantize", src, join(dir, "x.gguf"), "Q4_K_L");
  assert.equal(bad.status, 1);
  assert.equal(bad.stderr, "llamats: unknown quantization type 'Q4_K_L' (valid: F16, BF16, Q8_0, Q4_0, Q4_1, Q5_0, Q5_1, Q2_K, Q3_K_M, Q4_K_S, Q4_K_M, Q5_K_M, Q6_K)\n");
  const requant = cli("quantize", out, join(dir, "x.gguf"), "Q4_0");
  assert.equal(requant.status, 1);
  assert.match(requant.stderr, /already Q\d_K; quantize from an F32\/F16\/BF16 file \(or pass --allow-requantize\)/);
  const same = cli("quantize", src, src, "Q4_0");
  assert.equal(same.status, 1);
  assert.match(same.stderr, /must differ from the input/);
});

test("user errors: one line, exit 1, no stack; usage errors exit 2 with a hint; --verbose shows the trace", () => {
  const missing = cli("bench", "-m", join(dir, "missing.gguf"));
  assert.equal(missing.status, 1);
  assert.equal(missing.stderr, `llamats: ${join(dir, "missing.gguf")}: no such file or directory\n`);
  const notGguf = cli("quantize", join(ROOT, "package.json"), join(dir, "x.gguf"), "Q4_0");
  assert.equal(notGguf.status, 1);
  assert.equal(notGguf.stderr.trim().split("\n").length, 1, notGguf.stderr);
  assert.doesNotMatch(notGguf.stderr, /\n\s+at /);
  const badValue = cli("bench", "-m", MODEL, "-r", "zero");
  assert.equal(badValue.status, 1);
  assert.match(badValue.stderr, /--repetitions must be an integer ≥ 1, got 'zero'/);
  const unknown = cli("chat", "-m", MODEL, "--no-such-flag");
  assert.equal(unknown.status, 2);
  assert.match(unknown.stderr, /unknown option '--no-such-flag'\nhint: add --help/);
  const verbose = cli("bench", "-m", join(dir, "missing.gguf"), "--verbose");
  assert.equal(verbose.status, 1);
  assert.match(verbose.stderr, /no such file or directory\n.*UserError[\s\S]*\n\s+at /);
});
