// Encode throughput of the Llama 3 tokenizer, ours vs @huggingface/tokenizers (tokenizers.js, a
// pure-JS peer) on the same tokenizer.json, over ~1 MB of mixed English and Chinese text built
// deterministically. Also checks that both produce the same ids.
//
//   npx node bench/tokenizer.ts            (prints a table; `--json` for JSON)

import { readFileSync, readdirSync } from "node:fs";
import { gunzipSync } from "node:zlib";
import { Tokenizer as HfTokenizer } from "@huggingface/tokenizers";
import { hfTokenizerToMetadata } from "../src/format/hf-tokenizer.ts";
import { tokenizerFromMetadata } from "../src/tokenizer/index.ts";
import { FIXTURES_URL } from "../test/fixtures-path.ts";
import { prng } from "../test/format/gguf-fuzz-lib.ts";

const FIX = FIXTURES_URL.pathname;

export interface TokenizerSideResult {
  name: string;
  /** Building the tokenizer from the parsed tokenizer.json. */
  loadMs: number;
  /** First encode of the text (cold caches). */
  firstMs: number;
  /** Best of the timed runs. */
  bestMs: number;
  mbPerSecond: number;
  tokens: number;
}

export interface TokenizerBenchResult {
  textBytes: number;
  textChars: number;
  runs: number;
  ours: TokenizerSideResult;
  peer: TokenizerSideResult;
  idsEqual: boolean;
  firstMismatch?: number;
  /** ours MB/s ÷ peer MB/s. */
  speedup: number;
}

const EN_WORDS = (
  "the of and to in is that for it as was with be by on not he this are or his from at which but have an they you were " +
  "her she there been one all we their has would when if so no will more can out up who about what them some time than " +
  "model language token text data system people world year work school state family student group country problem hand " +
  "part place case week company number night point home water room mother area money story fact month lot right study " +
  "book eye job word business issue side kind head house service friend father power hour game line end member law car " +
  "city community name president team minute idea kid body information back parent face others level office door health"
).split(" ");
const ZH_WORDS = (
  "我们 今天 天气 非常 好 学习 人工智能 模型 语言 中国 北京 上海 时间 问题 世界 发展 经济 技术 数据 研究 社会 " +
  "文化 历史 教育 科学 工作 生活 朋友 家庭 城市 国家 政府 公司 市场 产品 服务 系统 网络 信息 计算机 程序 " +
  "算法 训练 推理 文本 分词 速度 测试 结果 方法 理论 实验 分析 我 你 他 她 是 的 了 在 有 和 就 不 人 都 一个 " +
  "也 很 到 说 要 去 会 着 没有 看 自己 这 那 什么 为什么 因为 所以 但是 如果 已经 可以 还是 应该"
).split(" ");

/** ~`targetBytes` of UTF-8: fixture prose, then generated English and Chinese paragraphs (about 2:1 by bytes). */
export function benchText(targetBytes = 1_000_000): string {
  const parts: string[] = [];
  try {
    const dir = FIX + "templates/meta-prompt-formats/";
    for (const f of readdirSync(dir).sort()) parts.push(readFileSync(dir + f, "utf8"));
  } catch {
    // Generated text alone is enough.
  }
  const r = prng(20240501);
  const pick = <T>(a: readonly T[]): T => a[Math.floor(r() * a.length)]!;
  let bytes = parts.reduce((n, p) => n + Buffer.byteLength(p), 0);
  while (bytes < targetBytes) {
    let para: string;
    if (r() < 0.6) {
      const sentences: string[] = [];
      for (let s = 0, n = 2 + Math.floor(r() * 5); s < n; s++) {
        const words: string[] = [];
        for (let w = 0, m = 5 + Math.floor(r() * 14); w < m; w++) words.push(r() < 0.04 ? String(Math.floor(r() * 100000)) : pick(EN_WORDS));
        const first = words[0]!;
        words[0] = first[0]!.toUpperCase() + first.slice(1);
        sentences.push(words.join(" ") + pick([".", ".", ".", "?", "!", ",", ";"]));
      }
      para = sentences.join(" ");
    } else {
      const sentences: string[] = [];
      for (let s = 0, n = 2 + Math.floor(r() * 4); s < n; s++) {
        let t = "";
        for (let w = 0, m = 4 + Math.floor(r() * 10); w < m; w++) t += pick(ZH_WORDS) + (r() < 0.15 ? "，" : "");
        sentences.push(t + pick(["。", "。", "？", "！"]));
      }
      para = sentences.join("");
    }
    parts.push(para + (r() < 0.3 ? "\n\n" : "\n"));
    bytes += Buffer.byteLength(para) + 1;
  }
  return parts.join("");
}

function time<T>(f: () => T): [T, number] {
  const t0 = performance.now();
  const v = f();
  return [v, performance.now() - t0];
}

export async function benchTokenizer(options: { runs?: number; textBytes?: number } = {}): Promise<TokenizerBenchResult> {
  const runs = options.runs ?? 3;
  const text = benchText(options.textBytes ?? 1_000_000);
  const textBytes = Buffer.byteLength(text);
  const json = JSON.parse(gunzipSync(readFileSync(FIX + "tokenizer/llama3/tokenizer.json.gz")).toString("utf8"));
  const config = JSON.parse(readFileSync(FIX + "tokenizer/llama3/tokenizer_config.json", "utf8"));

  const side = (name: string, load: (tokenizerJson: unknown) => (s: string) => ArrayLike<number>): [TokenizerSideResult, ArrayLike<number>] => {
    const own = structuredClone(json);
    const [encode, loadMs] = time(() => load(own));
    const [ids, firstMs] = time(() => encode(text));
    let bestMs = firstMs;
    for (let i = 0; i < runs; i++) bestMs = Math.min(bestMs, time(() => encode(text))[1]);
    return [{ name, loadMs, firstMs, bestMs, mbPerSecond: textBytes / 1e6 / (bestMs / 1000), tokens: ids.length }, ids];
  };

  const [ours, ourIds] = side("llamats", (tj) => {
    const tok = tokenizerFromMetadata(hfTokenizerToMetadata(tj, config));
    // tokenizers.js always splits added tokens out of the text, so parse them here too.
    return (s) => tok.encode(s, { addSpecial: false, parseSpecial: true });
  });
  const [peer, peerIds] = side("@huggingface/tokenizers 0.2.0", (tj) => {
    const tok = new HfTokenizer(tj as object, config);
    return (s) => tok.encode(s, { add_special_tokens: false }).ids;
  });

  let firstMismatch: number | undefined;
  const n = Math.max(ourIds.length, peerIds.length);
  for (let i = 0; i < n; i++) {
    if (ourIds[i] !== peerIds[i]) {
      firstMismatch = i;
      break;
    }
  }
  return {
    textBytes,
    textChars: text.length,
    runs,
    ours,
    peer,
    idsEqual: firstMismatch === undefined,
    ...(firstMismatch !== undefined ? { firstMismatch } : {}),
    speedup: ours.mbPerSecond / peer.mbPerSecond,
  };
}

export function formatTokenizerBench(r: TokenizerBenchResult): string {
  const row = (s: TokenizerSideResult) =>
    `| ${s.name.padEnd(30)} | ${s.mbPerSecond.toFixed(2).padStart(8)} | ${s.bestMs.toFixed(0).padStart(8)} | ${s.firstMs.toFixed(0).padStart(9)} | ${s.loadMs.toFixed(0).padStart(7)} | ${String(s.tokens).padStart(7)} |`;
  return [
    `Llama 3 tokenizer, encode ${(r.textBytes / 1e6).toFixed(2)} MB of English + Chinese text (best of ${r.runs} after a first run)`,
    `| ${"tokenizer".padEnd(30)} |     MB/s |  best ms |  first ms | load ms |  tokens |`,
    `|${"-".repeat(32)}|---------:|---------:|----------:|--------:|--------:|`,
    row(r.ours),
    row(r.peer),
    `ids equal: ${r.idsEqual ? "yes" : `NO (first difference at token ${r.firstMismatch})`}; llamats / peer = ${r.speedup.toFixed(2)}×`,
  ].join("\n");
}

if (import.meta.main) {
  const r = await benchTokenizer();
  console.log(process.argv.includes("--json") ? JSON.stringify(r, null, 2) : formatTokenizerBench(r));
  if (!r.idsEqual) process.exitCode = 1;
}
