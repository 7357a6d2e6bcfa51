// `npm run bench`: llamats (wasm backend) against llama.cpp (node-llama-cpp 3.21.1, CPU) and wllama
// (llama.cpp compiled to WebAssembly, in headless Chromium) on the same synthetic GGUF files —
// TinyLlama-1.1B and stories110M shapes in Q4_0, Q8_0 and Q4_K_M as llama-quantize makes them —
// prefill tok/s for a 128-token prompt (pp128), decode tok/s for 64 tokens (tg64), load time and
// peak RSS, at 1 and 2 threads; medians of alternating runs, best thread count compared with best.
// Every engine run is its own child process, so its peak RSS is its own. llama.cpp runs with
// UV_THREADPOOL_SIZE=1 (node-llama-cpp decodes on a libuv pool thread; a bigger pool on 2 cores
// makes it erratic). Decode is also shown as a fraction of the read-bandwidth ceiling measured
// here (bench/bandwidth.ts). Then the tokenizer, browser, grammar and serving sections.
//
//   npm run bench [-- --json] [--out results.json] [--models tinyllama,stories110m] [--quants q4_0,q8_0,q4_k_m]
//                 [--threads 1,2] [--runs 3] [--engines llamats,llama.cpp,wllama]
//                 [--wllama-models stories110m|tinyllama-q4_0|all] [--wllama-runs 1]
//                 [--sections engines,bandwidth,tokenizer,browser,grammar,serve]

import { spawn } from "node:child_process";
import { writeFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { formatBandwidth, measureBandwidth, type BandwidthResult } from "./bandwidth.ts";
import { ensureModel, modelFacts, QUANTS, SHAPES, type ModelFacts } from "./models.ts";

const PP = 128, TG = 64, CTX = 512;
const ENGINES = ["llamats", "llama.cpp", "wllama"] as const;
type Engine = (typeof ENGINES)[number];
const SECTIONS = ["engines", "bandwidth", "tokenizer", "browser", "grammar", "serve"] as const;

interface Run {
  pp: number;
  tg: number;
  loadMs: number;
  /** Peak resident set of the process running the engine (for wllama: Chromium's renderer). */
  peakRssBytes: number;
  peakRssAllBytes?: number;
}

interface Row extends Run {
  engine: Engine;
  model: string;
  threads: number;
  runs: number;
  samples: { pp: number[]; tg: number[] };
  /** Peak RSS ÷ (model file + KV cache). */
  rssRatio: number;
  /** (Peak RSS − the engine's process with no model) ÷ (model file + KV cache). */
  rssOverBaseRatio?: number;
  /** Weight bytes per token × tg ÷ read bandwidth at this thread count. */
  decodeOfBandwidth?: number;
  errors?: string[];
}

function prompt(): number[] {
  return Array.from({ length: PP }, (_, i) => 300 + ((i * 7919) % 20000));
}

function argmax(a: Float32Array): number {
  let b = 0;
  for (let i = 1; i < a.length; i++) if (a[i]! > a[b]!) b = i;
  return b;
}

const maxRss = (): number => process.resourceUsage().maxRSS * 1024;

async function benchOurs(path: string, threads: number): Promise<Run> {
  const { loadModel } = await import("../src/index.ts");
  const t0 = performance.now();
  const model = await loadModel(path, { backend: "wasm", threads, contextSize: CTX, kvType: "f16" });
  const loadMs = performance.now() - t0;
  try {
    // Warm-up as llama-bench does (kernels compiled and tiered up, caches touched), with the timed
    // shapes (the batch buffers grow on first use, where llama.cpp sizes them at context creation),
    // then a fresh session. Both engines get the same warm-up.
    const w = model.createSession();
    await w.evaluate(prompt());
    await w.evaluate([400]);
    const s = model.createSession();
    const t1 = performance.now();
    let logits = await s.evaluate(prompt());
    const pp = PP / ((performance.now() - t1) / 1000);
    const t2 = performance.now();
    for (let i = 0; i < TG; i++) logits = await s.evaluate([argmax(logits)]);
    const tg = TG / ((performance.now() - t2) / 1000);
    return { pp, tg, loadMs, peakRssBytes: maxRss() };
  } finally {
    await model.dispose();
  }
}

async function benchLlamaCpp(path: string, threads: number): Promise<Run> {
  const { getLlama, LlamaLogLevel } = await import("node-llama-cpp");
  const llama = await getLlama({ gpu: false, build: "never", logLevel: LlamaLogLevel.error, progressLogs: false });
  const t0 = performance.now();
  const model = await llama.loadModel({ modelPath: path });
  const ctx = await model.createContext({ contextSize: CTX, batchSize: 512, threads, flashAttention: false });
  const loadMs = performance.now() - t0;
  try {
    const seq = ctx.getSequence();
    await seq.evaluateWithoutGeneratingNewTokens(prompt() as never);
    await seq.evaluateWithoutGeneratingNewTokens([400] as never);
    await seq.clearHistory();
    const t1 = performance.now();
    await seq.evaluateWithoutGeneratingNewTokens(prompt() as never);
    const pp = PP / ((performance.now() - t1) / 1000);
    // Decode: greedy continuation of the prompt, timed over 64 generated tokens.
    await seq.clearHistory();
    await seq.evaluateWithoutGeneratingNewTokens(prompt() as never);
    let n = 0;
    const t2 = performance.now();
    for await (const _tok of seq.evaluate([300] as never, { temperature: 0 })) {
      if (++n >= TG) break;
    }
    const tg = TG / ((performance.now() - t2) / 1000);
    return { pp, tg, loadMs, peakRssBytes: maxRss() };
  } finally {
    await ctx.dispose();
    await model.dispose();
  }
}

/** Runs in a child process: one engine, one model, one thread count; prints one JSON line. */
async function child(what: string, path: string, threads: number): Promise<unknown> {
  if (what === "llamats") return benchOurs(path, threads);
  if (what === "llama.cpp") return benchLlamaCpp(path, threads);
  if (what === "wllama") {
    const { benchWllama } = await import("./wllama.ts");
    return benchWllama({ model: path, threads, promptTokens: PP, gen: TG });
  }
  if (what === "bandwidth") return measureBandwidth({ mib: 1024, threads: path.split(",").map(Number) });
  // What each engine's process holds before any model: the floor under its RSS.
  if (what === "base-llamats") {
    await import("../src/index.ts");
    return { peakRssBytes: maxRss() };
  }
  if (what === "base-llama.cpp") {
    const { getLlama, LlamaLogLevel } = await import("node-llama-cpp");
    await getLlama({ gpu: false, build: "never", logLevel: LlamaLogLevel.error, progressLogs: false });
    return { peakRssBytes: maxRss() };
  }
  if (what === "base-wllama") {
    const { wllamaBaseRss } = await import("./wllama.ts");
    return { peakRssBytes: await wllamaBaseRss() };
  }
  throw new Error(`unknown child ${what}`);
}

function runChild<T>(what: string, arg: string, threads: number, timeoutMs: number): Promise<T> {
  return new Promise((resolve, reject) => {
    const proc = spawn(process.execPath, [fileURLToPath(import.meta.url), "--child", what, arg, String(threads)], {
      env: { ...process.env, UV_THREADPOOL_SIZE: "1" },
      stdio: ["ignore", "pipe", "pipe"],
    });
    let out = "", err = "";
    const timer = setTimeout(() => proc.kill("SIGKILL"), timeoutMs);
    proc.stdout.on("data", (d) => (out += d));
    proc.stderr.on("data", (d) => (err += d));
    proc.on("error", reject);
    proc.on("exit", (code, signal) => {
      clearTimeout(timer);
      const line = out.trim().split("\n").pop() ?? "";
      if (code === 0 && (line.startsWith("{") || line.startsWith("["))) resolve(JSON.parse(line) as T);
      else {
        const lines = err.split("\n");
        const why = lines.find((l) => /^\w*Error\b/.test(l)) ?? lines.find((l) => /Error/.test(l)) ?? lines.filter(Boolean).pop() ?? "";
        reject(new Error(`${what} ${signal ? `killed (${signal}, over ${timeoutMs / 1000} s)` : `exited ${code}`}: ${why.trim().slice(0, 300)}`));
      }
    });
  });
}

const median = (xs: number[]): number => xs.slice().sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const mib = (b: number): string => `${(b / 2 ** 20).toFixed(0)}`;
const log = (s: string): void => void process.stderr.write(s);

function list(v: string | undefined, valid: readonly string[], flag: string): string[] {
  const xs = v!.split(",").map((x) => x.trim()).filter(Boolean);
  for (const x of xs) if (!valid.includes(x)) throw new Error(`${flag}: unknown '${x}' (valid: ${valid.join(", ")})`);
  return xs;
}

async function main(): Promise<void> {
  const argv = process.argv.slice(2);
  if (argv[0] === "--child") {
    process.stdout.write(JSON.stringify(await child(argv[1]!, argv[2]!, Number(argv[3]))) + "\n");
    // Worker pools (wasm threads, quantize pools) must not keep a finished child alive.
    process.exit(0);
  }
  const { values } = parseArgs({
    args: argv,
    options: {
      json: { type: "boolean", default: false },
      out: { type: "string" },
      models: { type: "string", default: Object.keys(SHAPES).join(",") },
      quants: { type: "string", default: Object.keys(QUANTS).join(",") },
      threads: { type: "string", default: "1,2" },
      runs: { type: "string", default: "3" },
      engines: { type: "string", default: ENGINES.join(",") },
      "wllama-models": { type: "string", default: "stories110m" },
      "wllama-runs": { type: "string", default: "1" },
      sections: { type: "string", default: SECTIONS.join(",") },
      help: { type: "boolean", short: "h", default: false },
    },
  });
  if (values.help) {
    process.stdout.write(
      "npm run bench -- [--json] [--out results.json] [--models tinyllama,stories110m] [--quants q4_0,q8_0,q4_k_m] [--threads 1,2] [--runs 3]\n" +
        "                 [--engines llamats,llama.cpp,wllama] [--wllama-models stories110m|tinyllama-q4_0|all] [--wllama-runs 1]\n" +
        "                 [--sections engines,bandwidth,tokenizer,browser,grammar,serve]\n" +
        "Example: npm run bench -- --models stories110m --quants q4_0 --sections engines,bandwidth --runs 5\n",
    );
    return;
  }
  const shapes = list(values.models, Object.keys(SHAPES), "--models");
  const quants = list(values.quants, Object.keys(QUANTS), "--quants");
  const threadList = values.threads!.split(",").map(Number);
  const runs = Number(values.runs);
  const engines = list(values.engines, ENGINES, "--engines") as Engine[];
  const sections = new Set(list(values.sections, SECTIONS, "--sections"));
  // wllama is 5–20× slower than the others (TinyLlama: ~2.5 min a run): by default one run, on
  // the stories110M shape only, to keep the whole bench within ~15 minutes on 2 cores
  // (--wllama-models tinyllama-q4_0 or all for the big shape).
  const wllamaRuns = Number(values["wllama-runs"]);
  const wllamaSel = values["wllama-models"]!.split(",");
  const wllamaOn = (shape: string, quant: string): boolean =>
    wllamaSel.includes("all") || wllamaSel.includes(shape) || wllamaSel.includes(`${shape}-${quant}`);
  const t00 = performance.now();

  const models: ModelFacts[] = [];
  if (sections.has("engines")) {
    for (const shape of shapes) for (const quant of quants) models.push(await modelFacts(shape, quant, await ensureModel(shape, quant, log), CTX));
  }

  let bandwidth: BandwidthResult[] | undefined;
  const baseRssBytes: Partial<Record<Engine, number>> = {};
  if (sections.has("bandwidth")) {
    bandwidth = await runChild<BandwidthResult[]>("bandwidth", threadList.join(","), 0, 300_000);
    log(formatBandwidth(bandwidth) + "\n");
  }

  const rows: Row[] = [];
  if (sections.has("engines")) {
    for (const e of engines) {
      try {
        baseRssBytes[e] = (await runChild<{ peakRssBytes: number }>(`base-${e}`, "-", 0, 120_000)).peakRssBytes;
      } catch (err) {
        log(`base RSS of ${e}: ${(err as Error).message}\n`);
      }
    }
    for (const m of models) {
      const name = `${m.shape}-${m.quant}`;
      for (const threads of threadList) {
        const got = new Map<Engine, Run[]>(engines.map((e) => [e, []]));
        const errors = new Map<Engine, string[]>();
        for (let r = 0; r < runs; r++) {
          // Engines alternate, and the one that goes first rotates, so drift hits all alike.
          for (let k = 0; k < engines.length; k++) {
            const engine = engines[(k + r) % engines.length]!;
            if (engine === "wllama" && (!wllamaOn(m.shape, m.quant) || r >= wllamaRuns)) continue;
            // wllama's completion action fails now and then (a length read from its heap is garbage); retry.
            for (let attempt = 0; attempt < (engine === "wllama" ? 3 : 1); attempt++) {
              try {
                const run = await runChild<Run>(engine, m.path, threads, engine === "wllama" ? 900_000 : 300_000);
                got.get(engine)!.push(run);
                log(`${name} ${engine} t=${threads} run ${r + 1}: pp ${run.pp.toFixed(1)}  tg ${run.tg.toFixed(2)} tok/s  load ${(run.loadMs / 1000).toFixed(2)} s  RSS ${mib(run.peakRssBytes)} MiB\n`);
                break;
              } catch (e) {
                const msg = (e as Error).message;
                errors.set(engine, [...(errors.get(engine) ?? []), msg]);
                log(`${name} ${engine} t=${threads} run ${r + 1}: FAILED ${msg}\n`);
              }
            }
          }
        }
        for (const engine of engines) {
          const rs = got.get(engine)!;
          if (rs.length === 0) {
            if (errors.has(engine)) rows.push({ engine, model: name, threads, runs: 0, pp: NaN, tg: NaN, loadMs: NaN, peakRssBytes: NaN, rssRatio: NaN, samples: { pp: [], tg: [] }, errors: errors.get(engine) });
            continue;
          }
          const tg = median(rs.map((x) => x.tg));
          const peakRssBytes = median(rs.map((x) => x.peakRssBytes));
          const bw = bandwidth?.find((b) => b.threads === threads);
          rows.push({
            engine, model: name, threads, runs: rs.length,
            pp: median(rs.map((x) => x.pp)), tg, loadMs: median(rs.map((x) => x.loadMs)), peakRssBytes,
            ...(rs[0]!.peakRssAllBytes !== undefined ? { peakRssAllBytes: median(rs.map((x) => x.peakRssAllBytes!)) } : {}),
            rssRatio: peakRssBytes / (m.fileBytes + m.kvBytes),
            ...(baseRssBytes[engine] !== undefined ? { rssOverBaseRatio: (peakRssBytes - baseRssBytes[engine]) / (m.fileBytes + m.kvBytes) } : {}),
            ...(bw ? { decodeOfBandwidth: (m.weightBytesPerToken * tg) / bw.median } : {}),
            samples: { pp: rs.map((x) => x.pp), tg: rs.map((x) => x.tg) },
            ...(errors.has(engine) ? { errors: errors.get(engine) } : {}),
          });
        }
      }
    }
  }

  const lines: string[] = [];
  const ratios: Record<string, Record<string, { pp: number; tg: number }>> = {};
  if (sections.has("engines")) {
    lines.push(
      `engines: pp${PP} / tg${TG} tok/s (median of ${runs} runs; wllama: ${wllamaRuns}), n_ctx ${CTX}, F16 KV cache; RSS = peak resident set of the engine's process`,
      "",
      "model               engine     thr  pp128 t/s  tg64 t/s  load s  RSS MiB  file+KV MiB  RSS/(file+KV)  (RSS-base)/(file+KV)  decode/BW",
    );
    for (const r of rows) {
      const m = models.find((x) => `${x.shape}-${x.quant}` === r.model)!;
      if (r.runs === 0) {
        lines.push(`${r.model.padEnd(19)} ${r.engine.padEnd(10)} ${String(r.threads).padStart(3)}  failed: ${r.errors![r.errors!.length - 1]}`);
        continue;
      }
      lines.push(
        `${r.model.padEnd(19)} ${r.engine.padEnd(10)} ${String(r.threads).padStart(3)}  ${r.pp.toFixed(1).padStart(9)}  ${r.tg.toFixed(2).padStart(8)}  ` +
          `${(r.loadMs / 1000).toFixed(2).padStart(6)}  ${mib(r.peakRssBytes).padStart(7)}  ${mib(m.fileBytes + m.kvBytes).padStart(11)}  ` +
          `${r.rssRatio.toFixed(2).padStart(12)}×  ${r.rssOverBaseRatio !== undefined ? `${r.rssOverBaseRatio.toFixed(2).padStart(19)}×` : "                   -"}  ${r.decodeOfBandwidth !== undefined ? `${(r.decodeOfBandwidth * 100).toFixed(0).padStart(8)}%` : "        -"}`,
      );
    }
    lines.push("", "models (weights read per token = all tensors but the embedding table, plus one embedding row):");
    for (const m of models) {
      lines.push(`  ${`${m.shape}-${m.quant}`.padEnd(19)} ${SHAPES[m.shape]!.label.padEnd(15)} file ${mib(m.fileBytes).padStart(5)} MiB  KV ${mib(m.kvBytes).padStart(3)} MiB  read/token ${mib(m.weightBytesPerToken).padStart(5)} MiB  (${m.types})`);
    }
    const bases = engines.filter((e) => baseRssBytes[e] !== undefined).map((e) => `${e} ${mib(baseRssBytes[e]!)} MiB`);
    if (bases.length) lines.push(`  base RSS (the engine's process, no model loaded): ${bases.join(", ")}${engines.includes("wllama") ? " (wllama: Chromium renderer with wllama imported)" : ""}`);
    lines.push("", "best thread count vs best (llamats / peer; higher is better for llamats):");
    for (const m of models) {
      const name = `${m.shape}-${m.quant}`;
      const best = (engine: Engine, k: "pp" | "tg"): number => {
        const xs = rows.filter((r) => r.model === name && r.engine === engine && r.runs > 0).map((r) => r[k]);
        return xs.length ? Math.max(...xs) : NaN;
      };
      const parts: string[] = [];
      ratios[name] = {};
      for (const peer of engines.filter((e) => e !== "llamats")) {
        const pp = best("llamats", "pp") / best(peer, "pp"), tg = best("llamats", "tg") / best(peer, "tg");
        if (Number.isNaN(pp) && Number.isNaN(tg)) continue;
        ratios[name][peer] = { pp, tg };
        parts.push(`vs ${peer}: prefill ${pp.toFixed(2)}× decode ${tg.toFixed(2)}×`);
      }
      const rss = rows.filter((r) => r.model === name && r.engine === "llamats" && r.runs > 0).map((r) => r.rssRatio);
      const over = rows.filter((r) => r.model === name && r.engine === "llamats" && r.runs > 0 && r.rssOverBaseRatio !== undefined).map((r) => r.rssOverBaseRatio!);
      if (rss.length) parts.push(`llamats RSS ${Math.max(...rss).toFixed(2)}× file+KV${over.length ? ` (${Math.max(...over).toFixed(2)}× over base)` : ""}`);
      lines.push(`  ${name.padEnd(19)} ${parts.join("   ")}`);
    }
  }
  if (bandwidth) lines.push("", formatBandwidth(bandwidth));

  let tokenizer: unknown, browser: unknown, grammar: unknown, serve: unknown;
  if (sections.has("tokenizer")) {
    try {
      const tb = await import("./tokenizer.ts");
      const r = await tb.benchTokenizer({ runs: 3 });
      tokenizer = r;
      lines.push("", tb.formatTokenizerBench(r));
    } catch (e) {
      lines.push("", `tokenizer bench unavailable: ${(e as Error).message}`);
    }
  }
  if (sections.has("browser")) {
    try {
      const bb = await import("./browser.ts");
      const r = await bb.benchBrowser({ model: await ensureModel("stories110m", "q4_0", log), tokens: 32 });
      browser = r;
      lines.push("", bb.formatBrowserBench(r));
    } catch (e) {
      lines.push("", `browser bench unavailable: ${(e as Error).message}`);
    }
  }
  if (sections.has("grammar")) {
    try {
      const gb = await import("./grammar.ts");
      const r = await gb.benchGrammar({ model: await ensureModel("tinyllama", "q4_0", log), tokens: 320 });
      grammar = r;
      lines.push("", gb.formatGrammarBench(r));
    } catch (e) {
      lines.push("", `grammar bench unavailable: ${(e as Error).message}`);
    }
  }
  if (sections.has("serve")) {
    try {
      const sb = await import("./serve.ts");
      const r = await sb.benchServe({ model: await ensureModel("tinyllama", "q4_0", log), clients: [1, 4, 8], tokens: 32 });
      serve = r;
      lines.push("", sb.formatServeBench(r));
    } catch (e) {
      lines.push("", `serve bench unavailable: ${(e as Error).message}`);
    }
  }
  const wallSeconds = (performance.now() - t00) / 1000;
  lines.push("", `bench wall time ${(wallSeconds / 60).toFixed(1)} min`);
  // --json: the same numbers as JSON on stdout instead of the table.
  const json = JSON.stringify({ pp: PP, tg: TG, contextSize: CTX, runs, wllamaRuns, models, bandwidth, baseRssBytes, results: rows, ratios, tokenizer, browser, grammar, serve, wallSeconds }, null, 2) + "\n";
  // --out FILE: the JSON also goes to a file, so one run gives both the table and the numbers.
  if (values.out) writeFileSync(values.out, json);
  process.stdout.write(values.json ? json : lines.join("\n") + "\n");
  // Leftover worker pools (the in-process sections) must not keep the bench alive.
  process.exit(0);
}

await main();
