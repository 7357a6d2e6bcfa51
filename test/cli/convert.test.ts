import { test, after } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { loadModel } from "../../src/index.ts";
import { GgmlType } from "../../src/format/ggml.ts";
import { quantize } from "../../src/format/quant.ts";
import { bf16ToF32 } from "../../src/format/f16.ts";
import { openModelFile } from "../../src/node/open.ts";
import { GgufValueType, type GgufFile } from "../../src/format/gguf.ts";
import { writeHfLlama, HF_DIMS } from "../format/hf-llama-folder.ts";

const ROOT = new URL("../../", import.meta.url).pathname;
const cli = (...args: string[]) => spawnSync(process.execPath, [join(ROOT, "bin/llamats.js"), ...args], { encoding: "utf8", cwd: ROOT });
const dir = mkdtempSync(join(tmpdir(), "llamats-convert-"));
after(() => rmSync(dir, { recursive: true, force: true }));
const hf = await writeHfLlama(join(dir, "hf"));

test("convert --outtype bf16: the GGUF gives the HF folder's logits exactly", async () => {
  const out = join(dir, "model-bf16.gguf");
  const r = cli("convert", hf, out, "--outtype", "bf16");
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stderr, /convert: .*20 tensors, bf16/);

  const file = (await openModelFile(out)) as GgufFile;
  try {
    assert.equal(file.metadata.get("general.file_type"), 32);
    assert.equal((file.metadata.get("tokenizer.ggml.tokens") as string[]).length, HF_DIMS.vocab);
    const config = JSON.parse(readFileSync(join(hf, "tokenizer_config.json"), "utf8"));
    assert.equal(file.metadata.get("tokenizer.chat_template"), config.chat_template);
    assert.equal(file.tensor("blk.0.attn_q.weight")!.type, GgmlType.BF16);
    // llama.cpp refuses a float key stored as an integer (rope_theta 500000.0 is one in JS)
    assert.equal(file.metadataTypes.get("llama.rope.freq_base")!.type, GgufValueType.F32);
    assert.equal(file.metadataTypes.get("llama.attention.layer_norm_rms_epsilon")!.type, GgufValueType.F32);
    assert.equal(file.tensor("blk.0.attn_norm.weight")!.type, GgmlType.F32);
  } finally {
    await file.close();
  }

  const a = await loadModel(hf, { contextSize: 32 });
  const b = await loadModel(out, { contextSize: 32 });
  try {
    const ids = a.tokenize("The capital of France is");
    assert.deepEqual(b.tokenize("The capital of France is"), ids);
    const la = await a.createSession().evaluateFrom(ids, 0);
    const lb = await b.createSession().evaluateFrom(ids, 0);
    assert.equal(la.length, ids.length * HF_DIMS.vocab);
    assert.ok(Buffer.from(la.buffer).equals(Buffer.from(lb.buffer)), "logits differ");
  } finally {
    await a.dispose();
    await b.dispose();
  }
});

test("convert --outtype q8_0: matrices are quantize(Q8_0) of the checkpoint, norms stay F32", async () => {
  const out = join(dir, "model-q8_0.gguf");
  const r = cli("convert", hf, out, "--outtype", "q8_0");
  assert.equal(r.status, 0, r.stderr);
  const gguf = (await openModelFile(out)) as GgufFile;
  const src = await openModelFile(hf);
  try {
    assert.equal(gguf.metadata.get("general.file_type"), 7);
    for (const name of ["blk.1.ffn_down.weight", "blk.0.attn_k.weight"]) {
      assert.equal(gguf.tensor(name)!.type, GgmlType.Q8_0);
      const raw = await src.readTensor(name); // BF16, Q/K rows already permuted
      const u16 = new Uint16Array(raw.slice().buffer);
      const want = quantize(GgmlType.Q8_0, Float32Array.from(u16, bf16ToF32));
      assert.ok(Buffer.from(await gguf.readTensor(name)).equals(Buffer.from(want)), name);
    }
    assert.equal(gguf.tensor("output_norm.weight")!.type, GgmlType.F32);
  } finally {
    await gguf.close();
    await src.close();
  }
});

test("convert: friendly errors", () => {
  const notDir = cli("convert", join(ROOT, "models/stories260K.gguf"), join(dir, "x.gguf"));
  assert.equal(notDir.status, 1);
  assert.match(notDir.stderr, /^llamats: .*is not a folder.*quantize/);
  assert.equal(notDir.stderr.trim().split("\n").length, 1);
  const missing = cli("convert", join(dir, "nope"), join(dir, "x.gguf"));
  assert.equal(missing.status, 1);
  assert.match(missing.stderr, /nope: no such folder/);
  const badType = cli("convert", hf, join(dir, "x.gguf"), "--outtype", "q4_0");
  assert.equal(badType.status, 2);
  assert.match(badType.stderr, /Allowed choices are f32, f16, bf16, q8_0/);
});
