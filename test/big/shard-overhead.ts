// Manual measurement (not in npm test): the cost of spreading weights over several wasm memories.
// Loads a < 4 GiB model once in one memory and once with weights capped per memory (default
// 64 MiB), and times prefill and decode on each, alternating.
//   node test/big/shard-overhead.ts [model.gguf] [capMiB] [threads]

import { loadModel } from "../../src/index.ts";
import { createWasmBackend } from "../../src/backend/wasm/index.ts";
import { openModelFile } from "../../src/node/open.ts";

const path = process.argv[2] ?? ".cache/bench/tinyllama-shape-q4_0.gguf";
const cap = Number(process.argv[3] ?? 64) * 2 ** 20;
const threads = Number(process.argv[4] ?? 1);
const PP = 32, TG = 16, ROUNDS = 2;

async function once(sharded: boolean): Promise<{ pp: number; tg: number; shards: number }> {
  const file = await openModelFile(path);
  const weightBytes = file.tensors.reduce((n, t) => n + t.byteLength, 0);
  const backend = await createWasmBackend(sharded ? { threads, weightBytes, shardWeightBytes: cap } : { threads });
  const model = await loadModel(file, { backend, contextSize: 128 });
  try {
    const s = model.createSession();
    const prompt = Array.from({ length: PP }, (_, i) => 100 + i);
    let t = performance.now();
    let l = await s.evaluate(prompt);
    const pp = PP / ((performance.now() - t) / 1000);
    t = performance.now();
    for (let i = 0; i < TG; i++) l = await s.evaluate([l.indexOf(Math.max(...l))]);
    const tg = TG / ((performance.now() - t) / 1000);
    return { pp, tg, shards: backend.weightBytesPerShard.filter((n) => n > 0).length };
  } finally {
    await model.dispose();
  }
}

const res: Record<string, { pp: number[]; tg: number[]; shards: number }> = {};
for (let r = 0; r < ROUNDS; r++) {
  for (const sharded of [false, true]) {
    const o = await once(sharded);
    const k = sharded ? "sharded" : "single";
    res[k] ??= { pp: [], tg: [], shards: o.shards };
    res[k].pp.push(o.pp);
    res[k].tg.push(o.tg);
  }
}
const best = (a: number[]) => Math.max(...a);
for (const [k, v] of Object.entries(res)) {
  console.log(`${k.padEnd(8)} memories with weights ${v.shards}  pp${PP} ${best(v.pp).toFixed(2)} tok/s  tg${TG} ${best(v.tg).toFixed(2)} tok/s`);
}
console.log(`sharded/single: pp ${(best(res.sharded!.pp) / best(res.single!.pp)).toFixed(3)}  tg ${(best(res.sharded!.tg) / best(res.single!.tg)).toFixed(3)}`);
