// `npm run bench`: llamats (wasm backend) against llama.cpp (node-llama-cpp 3.21.1, CPU) on the
// same synthetic TinyLlama-1.1B-shape GGUF files in Q4_0, Q8_0 and Q4_K_M: prefill tok/s for a
// 128-token prompt (pp128), decode tok/s for 64 tokens (tg64), at 1 and 2 threads; best of each
// engine compared. llama.cpp runs in a child process with UV_THREADPOOL_SIZE=1 (node-llama-cpp
// decodes on a libuv pool thread; a bigger pool on 2 cores makes it erratic).
//
//   npm run bench [-- --json] [--models q4_0,q8_0,q4_k_m] [--threads 1,2] [--runs 3]

import { existsSync, mkdirSync } from "node:fs";
import { rename } from "node:fs/promises";
import { spawn } from "node:child_process";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { syntheticLlama } from "../src/format/synthetic.ts";
import { writeGguf } from "../src/format/gguf.ts";
import { GgmlType } from "../src/format/ggml.ts";
import type { MetaValue } from "../src/format/model-file.ts";
import { quantize } from "../src/format/quant.ts";
import { FileSink } from "../src/node/file-sink.ts";

const root = join(fileURLToPath(new URL(".", import.meta.url)), "..");
const cacheDir = join(root, ".cache", "bench");
const PP = 128, TG = 64;

interface Result { engine: string; model: string; threads: number; pp: number; tg: number; loadMs: number }

const MODELS: Record<string, (name: string, shape: readonly number[]) => GgmlType> = {
  q4_0: (_n, s) => (s.length === 1 ? GgmlType.F32 : GgmlType.Q4_0),
  q8_0: (_n, s) => (s.length === 1 ? GgmlType.F32 : GgmlType.Q8_0),
  // llama.cpp's Q4_K_M mixture: Q6_K for the output head and half of attn_v / ffn_down, Q4_K elsewhere.
  q4_k_m: (name, s) => {
    if (s.length === 1) return GgmlType.F32;
    if (name === "output.weight") return GgmlType.Q6_K;
    const layer = Number(/^blk\.(\d+)\./.exec(name)?.[1] ?? -1);
    if ((name.endsWith("attn_v.weight") || name.endsWith("ffn_down.weight")) && layer % 2 === 0) return GgmlType.Q6_K;
    return GgmlType.Q4_K;
  },
};

function uniqueTokens(metadata: ReadonlyMap<string, MetaValue>): Map<string, MetaValue> {
  const seen = new Set<string>();
  const fixed = (metadata.get("tokenizer.ggml.tokens") as string[]).map((t, i) => {
    const u = seen.has(t) ? `<dup${i}>` : t;
    seen.add(u);
    return u;
  });
  return new Map(metadata).set("tokenizer.ggml.tokens", fixed);
}

async function modelFile(kind: string): Promise<string> {
  const path = join(cacheDir, `tinyllama-shape-${kind}.gguf`);
  if (existsSync(path)) return path;
  mkdirSync(cacheDir, { recursive: true });
  process.stderr.write(`building ${path} (once)…\n`);
  const input = syntheticLlama({
    name: `tinyllama-shape-${kind}`, vocabSize: 32000, dim: 2048, layers: 22, heads: 32, kvHeads: 4, ffn: 5632,
    contextLength: 2048, seed: 7, type: MODELS[kind]!, quantize: (type, values) => quantize(type, values),
  });
  const sink = await FileSink.create(path + ".part");
  await writeGguf(sink, { ...input, metadata: uniqueTokens(input.metadata) });
  await sink.close();
  await rename(path + ".part", path);
  return path;
}

function prompt(): number[] {
  return Array.from({ length: PP }, (_, i) => 300 + ((i * 7919) % 20000));
}

function argmax(a: Float32Array): number {
  let b = 0;
  for (let i = 1; i < a.length; i++) if (a[i]! > a[b]!) b = i;
  return b;
}

async function benchOurs(path: string, threads: number): Promise<Omit<Result, "engine" | "model">> {
  const { loadModel } = await import("../src/index.ts");
  const t0 = performance.now();
  const model = await loadModel(path, { backend: "wasm", threads, contextSize: 512, kvType: "f16" });
  const loadMs = performance.now() - t0;
  try {
    const s = model.createSession();
    const t1 = performance.now();
    let logits = await s.evaluate(prompt());
    const pp = PP / ((performance.now() - t1) / 1000);
    const t2 = performance.now();
    for (let i = 0; i < TG; i++) logits = await s.evaluate([argmax(logits)]);
    const tg = TG / ((performance.now() - t2) / 1000);
    return { threads, pp, tg, loadMs };
  } finally {
    await model.dispose();
  }
}

/** Runs in the child process (`--peer path threads`): llama.cpp through node-llama-cpp. */
async function benchPeer(path: string, threads: number): Promise<Omit<Result, "engine" | "model">> {
  const { getLlama, LlamaLogLevel } = await import("node-llama-cpp");
  const llama = await getLlama({ gpu: false, build: "never", logLevel: LlamaLogLevel.error, progressLogs: false });
  const t0 = performance.now();
  const model = await llama.loadModel({ modelPath: path });
  const loadMs = performance.now() - t0;
  const ctx = await model.createContext({ contextSize: 512, batchSize: 512, threads, flashAttention: false });
  try {
    const seq = ctx.getSequence();
    const t1 = performance.now();
    await seq.evaluateWithoutGeneratingNewTokens(prompt() as never);
    const pp = PP / ((performance.now() - t1) / 1000);
    // Decode: greedy continuation of the prompt, timed from the first to the 64th token.
    await seq.clearHistory();
    await seq.evaluateWithoutGeneratingNewTokens(prompt() as never);
    let n = 0;
    const t2 = performance.now();
    for await (const _tok of seq.evaluate([300] as never, { temperature: 0 })) {
      if (++n >= TG) break;
    }
    const tg = TG / ((performance.now() - t2) / 1000);
    return { threads, pp, tg, loadMs };
  } finally {
    await ctx.dispose();
    await model.dispose();
  }
}

function runPeer(path: string, threads: number): Promise<Omit<Result, "engine" | "model">> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [fileURLToPath(import.meta.url), "--peer", path, String(threads)], {
      env: { ...process.env, UV_THREADPOOL_SIZE: "1" },
      stdio: ["ignore", "pipe", "inherit"],
    });
    let out = "";
    child.stdout.on("data", (d) => (out += d));
    child.on("error", reject);
    child.on("exit", (code) => (code === 0 ? resolve(JSON.parse(out.trim().split("\n").pop()!)) : reject(new Error(`peer exited ${code}`))));
  });
}

const median = (xs: number[]): number => xs.slice().sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

async function main(): Promise<void> {
  const argv = process.argv.slice(2);
  if (argv[0] === "--peer") {
    process.stdout.write(JSON.stringify(await benchPeer(argv[1]!, Number(argv[2]))) + "\n");
    return;
  }
  const { values } = parseArgs({
    args: argv,
    options: {
      json: { type: "boolean", default: false }, models: { type: "string", default: "q4_0,q8_0,q4_k_m" },
      threads: { type: "string", default: "1,2" }, runs: { type: "string", default: "3" },
    },
  });
  const kinds = values.models!.split(",");
  const threadList = values.threads!.split(",").map(Number);
  const runs = Number(values.runs);
  const results: Result[] = [];
  for (const kind of kinds) {
    const path = await modelFile(kind);
    for (const threads of threadList) {
      const ours: Omit<Result, "engine" | "model">[] = [], peer: Omit<Result, "engine" | "model">[] = [];
      for (let r = 0; r < runs; r++) {
        // Engines alternate so drift on a shared machine hits both alike.
        ours.push(await benchOurs(path, threads));
        peer.push(await runPeer(path, threads));
      }
      for (const [engine, rs] of [["llamats", ours], ["llama.cpp", peer]] as const) {
        const row = { engine, model: kind, threads, pp: median(rs.map((x) => x.pp)), tg: median(rs.map((x) => x.tg)), loadMs: median(rs.map((x) => x.loadMs)) };
        results.push(row);
        process.stderr.write(`${kind} ${engine} t=${threads}: pp${PP} ${row.pp.toFixed(1)} tok/s, tg${TG} ${row.tg.toFixed(2)} tok/s\n`);
      }
    }
  }
  const lines = ["model    engine      threads  pp128 tok/s  tg64 tok/s  load ms"];
  for (const r of results) {
    lines.push(`${r.model.padEnd(8)} ${r.engine.padEnd(11)} ${String(r.threads).padStart(7)}  ${r.pp.toFixed(1).padStart(11)}  ${r.tg.toFixed(2).padStart(10)}  ${r.loadMs.toFixed(0).padStart(7)}`);
  }
  const ratios: Record<string, { pp: number; tg: number }> = {};
  lines.push("", "best vs best (llamats / llama.cpp):");
  for (const kind of kinds) {
    const best = (engine: string, k: "pp" | "tg") => Math.max(...results.filter((r) => r.model === kind && r.engine === engine).map((r) => r[k]));
    ratios[kind] = { pp: best("llamats", "pp") / best("llama.cpp", "pp"), tg: best("llamats", "tg") / best("llama.cpp", "tg") };
    lines.push(`  ${kind.padEnd(8)} prefill ${ratios[kind].pp.toFixed(2)}×   decode ${ratios[kind].tg.toFixed(2)}×`);
  }
  let tokenizer: unknown;
  try {
    const tb = await import("./tokenizer.ts");
    const r = await tb.benchTokenizer({ runs: 3 });
    tokenizer = r;
    lines.push("", tb.formatTokenizerBench(r));
  } catch (e) {
    lines.push("", `tokenizer bench unavailable: ${(e as Error).message}`);
  }
  let browser: unknown;
  try {
    const bb = await import("./browser.ts");
    const r = await bb.benchBrowser({ tokens: 32 });
    browser = r;
    lines.push("", bb.formatBrowserBench(r));
  } catch (e) {
    lines.push("", `browser bench unavailable: ${(e as Error).message}`);
  }
  let grammar: unknown;
  try {
    const gb = await import("./grammar.ts");
    const r = await gb.benchGrammar({ model: await modelFile("q4_0"), tokens: 320 });
    grammar = r;
    lines.push("", gb.formatGrammarBench(r));
  } catch (e) {
    lines.push("", `grammar bench unavailable: ${(e as Error).message}`);
  }
  let serve: unknown;
  try {
    const sb = await import("./serve.ts");
    const r = await sb.benchServe({ model: await modelFile("q4_0"), clients: [1, 4, 8], tokens: 32 });
    serve = r;
    lines.push("", sb.formatServeBench(r));
  } catch (e) {
    lines.push("", `serve bench unavailable: ${(e as Error).message}`);
  }
  // --json: the same numbers as JSON on stdout instead of the table.
  if (values.json) process.stdout.write(JSON.stringify({ pp: PP, tg: TG, results, ratios, tokenizer, browser, grammar, serve }, null, 2) + "\n");
  else process.stdout.write(lines.join("\n") + "\n");
}

await main();
