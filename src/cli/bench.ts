// `llamats bench`: llama-bench's two tests for one model — prompt processing (pp: N tokens in
// one batch) and text generation (tg: N tokens one at a time) — as its markdown table or JSON.
// The comparison with llama.cpp itself lives in `npm run bench`.

import type { Command } from "commander";
import { ggmlTypeName } from "../format/ggml.ts";
import { loadModel, type Model } from "../index.ts";
import { addModelOptions, intArg, type ModelFlags } from "./options.ts";
import { loadOptions } from "./common.ts";

interface BenchFlags extends ModelFlags {
  nPrompt: number;
  nGen: number;
  repetitions: number;
  json: boolean;
}

/** One row of results, named as llama-bench's JSON output names them. */
export interface BenchResult {
  model_filename: string;
  model_type: string;
  model_size: number;
  model_n_params: number;
  backend: string;
  n_threads: number;
  n_prompt: number;
  n_gen: number;
  test: string;
  avg_ns: number;
  stddev_ns: number;
  avg_ts: number;
  stddev_ts: number;
  samples_ns: number[];
  samples_ts: number[];
}

export function register(program: Command): void {
  const cmd = program
    .command("bench")
    .description("measure prompt processing (pp) and generation (tg) speed, as llama-bench does")
    .option("-p, --n-prompt <n>", "prompt tokens evaluated in one pass (0 = skip the pp test)", intArg("--n-prompt"), 128)
    .option("-n, --n-gen <n>", "tokens generated one at a time (0 = skip the tg test)", intArg("--n-gen"), 64)
    .option("-r, --repetitions <n>", "repetitions of each test", intArg("--repetitions", 1), 3)
    .option("--json", "print a JSON array of results (llama-bench -o json field names)", false);
  addModelOptions(cmd);
  cmd.addHelpText("after", `\nExamples:\n  llamats bench -m model-Q4_K_M.gguf\n  llamats bench -m models/stories260K.gguf -p 64 -n 32 -r 5 --backend wasm -t 2 --json\n`);
  cmd.action(async (flags: BenchFlags) => {
    const model = await loadModel(flags.model, {
      ...loadOptions(flags),
      contextSize: flags.ctxSize ?? Math.max(flags.nPrompt, flags.nGen, 1),
      batchSize: flags.batchSize ?? Math.max(flags.nPrompt, 1),
    });
    try {
      const results: BenchResult[] = [];
      if (flags.nPrompt > 0) results.push(await runTest(model, flags, "pp", flags.nPrompt));
      if (flags.nGen > 0) results.push(await runTest(model, flags, "tg", flags.nGen));
      process.stdout.write(flags.json ? `${JSON.stringify(results, null, 2)}\n` : benchTable(results));
    } finally {
      await model.dispose();
    }
  });
}

/** Deterministic token ids spread over the vocabulary (llama-bench feeds random tokens too). */
function benchTokens(vocab: number, n: number): number[] {
  let x = 0x2545f491;
  return Array.from({ length: n }, () => {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    return (x >>> 0) % vocab;
  });
}

async function once(model: Model, kind: "pp" | "tg", tokens: number[]): Promise<number> {
  const s = model.createSession();
  try {
    const t0 = process.hrtime.bigint();
    if (kind === "pp") await s.evaluate(tokens);
    else for (const t of tokens) await s.evaluate([t]);
    return Number(process.hrtime.bigint() - t0);
  } finally {
    s.dispose();
  }
}

const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
function stddev(xs: number[]): number {
  if (xs.length < 2) return 0;
  const m = mean(xs);
  return Math.sqrt(xs.reduce((a, x) => a + (x - m) ** 2, 0) / (xs.length - 1));
}

async function runTest(model: Model, flags: BenchFlags, kind: "pp" | "tg", n: number): Promise<BenchResult> {
  const tokens = benchTokens(model.config.vocabSize, n);
  await once(model, kind, tokens.slice(0, Math.min(n, kind === "pp" ? n : 1))); // warm-up, as llama-bench does
  const samplesNs: number[] = [];
  for (let r = 0; r < flags.repetitions; r++) samplesNs.push(await once(model, kind, tokens));
  const samplesTs = samplesNs.map((ns) => (n * 1e9) / ns);
  const file = model.file;
  return {
    model_filename: file.name,
    model_type: modelType(model),
    model_size: file.tensors.reduce((a, t) => a + t.byteLength, 0),
    model_n_params: file.tensors.reduce((a, t) => a + t.elements, 0),
    backend: flags.backend,
    n_threads: (model.backend as { threads?: number }).threads ?? 1,
    n_prompt: kind === "pp" ? n : 0,
    n_gen: kind === "tg" ? n : 0,
    test: `${kind}${n}`,
    avg_ns: Math.round(mean(samplesNs)),
    stddev_ns: Math.round(stddev(samplesNs)),
    avg_ts: mean(samplesTs),
    stddev_ts: stddev(samplesTs),
    samples_ns: samplesNs,
    samples_ts: samplesTs,
  };
}

const FILE_TYPE_NAMES: Readonly<Record<number, string>> = {
  0: "all F32", 1: "F16", 2: "Q4_0", 3: "Q4_1", 7: "Q8_0", 8: "Q5_0", 9: "Q5_1", 10: "Q2_K - Medium",
  11: "Q3_K - Small", 12: "Q3_K - Medium", 13: "Q3_K - Large", 14: "Q4_K - Small", 15: "Q4_K - Medium",
  16: "Q5_K - Small", 17: "Q5_K - Medium", 18: "Q6_K", 32: "BF16",
};

function modelType(model: Model): string {
  const meta = model.file.metadata;
  const arch = String(meta.get("general.architecture") ?? "?");
  const params = model.file.tensors.reduce((a, t) => a + t.elements, 0);
  const size = params >= 1e9 ? `${(params / 1e9).toFixed(params >= 1e10 ? 0 : 1)}B` : params >= 1e6 ? `${Math.round(params / 1e6)}M` : `${Math.round(params / 1e3)}K`;
  const ft = meta.get("general.file_type");
  return `${arch} ${size} ${typeof ft === "number" ? (FILE_TYPE_NAMES[ft] ?? `type ${ft}`) : mainType(model)}`;
}

/** Files without general.file_type: the type holding most of the weight bytes. */
function mainType(model: Model): string {
  const bytes = new Map<number, number>();
  for (const t of model.file.tensors) bytes.set(t.type, (bytes.get(t.type) ?? 0) + t.byteLength);
  const top = [...bytes].sort((a, b) => b[1] - a[1])[0];
  return top ? ggmlTypeName(top[0]) : "?";
}

function human(n: number, units: string[], base: number): string {
  let u = 0;
  while (n >= base && u < units.length - 1) {
    n /= base;
    u++;
  }
  return `${n.toFixed(2)} ${units[u]}`;
}

/** llama-bench's markdown table. */
export function benchTable(results: readonly BenchResult[]): string {
  const head = ["model", "size", "params", "backend", "threads", "test", "t/s"];
  const right = [false, true, true, false, true, true, true];
  const rows = results.map((r) => [
    r.model_type,
    human(r.model_size, ["B", "KiB", "MiB", "GiB"], 1024),
    human(r.model_n_params, ["", "K", "M", "B"], 1000),
    r.backend,
    String(r.n_threads),
    r.test,
    `${r.avg_ts.toFixed(2)} ± ${r.stddev_ts.toFixed(2)}`,
  ]);
  const widths = head.map((h, c) => Math.max(h.length, ...rows.map((r) => r[c]!.length)));
  const line = (cells: string[]) => `| ${cells.map((x, c) => (right[c] ? x.padStart(widths[c]!) : x.padEnd(widths[c]!))).join(" | ")} |`;
  const rule = `| ${widths.map((w, c) => (right[c] ? `${"-".repeat(w - 1)}:` : "-".repeat(w))).join(" | ")} |`;
  return [line(head), rule, ...rows.map(line)].join("\n") + "\n";
}
