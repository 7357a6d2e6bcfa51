import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { GgufError, MemorySink, readGguf, writeGguf } from "../../src/format/gguf.ts";
import { parseSplitName, readSplitGguf, splitGgufInput, splitPartName } from "../../src/format/gguf-split.ts";
import { BytesSource } from "../../src/format/source.ts";
import { syntheticLlama } from "../../src/format/synthetic.ts";
import { FileSink } from "../../src/node/file-sink.ts";
import { openModelFile } from "../../src/node/open.ts";
import { UserError } from "../../src/errors.ts";

const input = syntheticLlama({ layers: 3, seed: 11 });

async function whole(): Promise<Uint8Array> {
  const sink = new MemorySink();
  await writeGguf(sink, input);
  return sink.bytes();
}

async function parts(n = 3): Promise<Uint8Array[]> {
  const out: Uint8Array[] = [];
  for (const part of splitGgufInput(input, n)) {
    const sink = new MemorySink();
    await writeGguf(sink, part);
    out.push(sink.bytes());
  }
  return out;
}

test("split names", () => {
  assert.deepEqual(parseSplitName("m-00002-of-00003.gguf"), { prefix: "m", no: 2, count: 3 });
  assert.equal(parseSplitName("m.gguf"), undefined);
  assert.equal(splitPartName("/x/m", 1, 12), "/x/m-00001-of-00012.gguf");
});

test("a model written in 3 parts reads as the unsplit model", async () => {
  const one = await readGguf(new BytesSource(await whole()));
  const bytes = await parts();
  const separate = await Promise.all(bytes.map((b) => readGguf(new BytesSource(b))));
  assert.ok(separate.every((p) => p.tensors.length > 0), "every part holds tensors");
  assert.equal(separate[1]!.metadata.size, 3, "later parts hold only split.* keys");
  // given in any order
  const split = await readSplitGguf([bytes[2]!, bytes[0]!, bytes[1]!].map((b, i) => new BytesSource(b, `part${i}`)));
  assert.equal(split.parts.length, 3);
  assert.deepEqual([...split.metadata], [...one.metadata]);
  assert.deepEqual(split.tensors.map((t) => t.name), one.tensors.map((t) => t.name));
  for (const t of one.tensors) assert.deepEqual(await split.readTensor(t.name), await one.readTensor(t.name), t.name);
});

test("inconsistent parts are refused", async () => {
  const bytes = await parts();
  const src = (bs: Uint8Array[]) => bs.map((b, i) => new BytesSource(b, `p${i}`));
  await assert.rejects(readSplitGguf(src([bytes[0]!, bytes[1]!])), (e: unknown) => e instanceof GgufError && /split.count is 3 but 2 parts/.test(e.message));
  await assert.rejects(readSplitGguf(src([bytes[0]!, bytes[1]!, bytes[1]!])), /split.no 1 also belongs to p1/);
  const other = splitGgufInput(syntheticLlama({ layers: 3, seed: 12 }), 3);
  const sink = new MemorySink();
  await writeGguf(sink, { ...other[1]!, tensors: [...other[1]!.tensors, other[2]!.tensors[0]!] });
  await assert.rejects(readSplitGguf(src([bytes[0]!, sink.bytes(), bytes[2]!])), /is also in|split.tensors.count/);
});

test("openModelFile opens all parts from any part's name; missing parts and files are clear errors", async () => {
  const dir = mkdtempSync(join(tmpdir(), "llamats-split-"));
  try {
    const bytes = await parts();
    for (let i = 0; i < 3; i++) {
      const sink = await FileSink.create(join(dir, splitPartName("model", i + 1, 3)));
      await sink.write(bytes[i]!);
      await sink.close();
    }
    const m = await openModelFile(join(dir, "model-00002-of-00003.gguf"));
    assert.equal(m.tensors.length, input.tensors.length);
    assert.equal(m.metadata.get("general.architecture"), "llama");
    await m.close();

    await assert.rejects(openModelFile(join(dir, "model-00001-of-00004.gguf")), (e: unknown) => e instanceof UserError && /00001-of-00004.gguf: no such file/.test(e.message));
    const sink = await FileSink.create(join(dir, "lone-00001-of-00002.gguf"));
    await sink.write(bytes[0]!);
    await sink.close();
    await assert.rejects(openModelFile(join(dir, "lone-00001-of-00002.gguf")), /part 2 of 2 of the split model is missing/);
    await assert.rejects(openModelFile(join(dir, "absent.gguf")), (e: unknown) => e instanceof UserError && /absent.gguf: no such file/.test(e.message));
    // a folder goes to the Hugging Face reader, which wants a config.json
    await assert.rejects(openModelFile(dir), (e: unknown) => e instanceof UserError && /config.json/.test(e.message));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
