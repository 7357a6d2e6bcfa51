// Flags shared by the commands that load and run a model, named as in llama.cpp.

import { Option, type Command } from "commander";
import { UserError } from "../errors.ts";

export function intArg(name: string, min = 0) {
  return (v: string): number => {
    const n = Number(v);
    if (!Number.isInteger(n) || n < min) throw new UserError(`${name} must be an integer ≥ ${min}, got '${v}'`);
    return n;
  };
}

export function floatArg(name: string) {
  return (v: string): number => {
    const n = Number(v);
    if (!Number.isFinite(n)) throw new UserError(`${name} must be a number, got '${v}'`);
    return n;
  };
}

export function addModelOptions(cmd: Command): Command {
  return cmd
    .requiredOption("-m, --model <file>", "GGUF file (or first part of a split GGUF, or a Hugging Face folder)")
    .option("-c, --ctx-size <n>", "context size in tokens (default: the model's, at most 4096)", intArg("--ctx-size", 1))
    .option("-t, --threads <n>", "threads (default: the machine's cores)", intArg("--threads", 1))
    .option("-b, --batch-size <n>", "tokens per forward pass", intArg("--batch-size", 1))
    .addOption(new Option("--backend <name>", "kernel backend: wasm (SIMD kernels) or ref (plain TS oracle)").choices(["ref", "wasm"]).default("wasm"))
    .addOption(new Option("--kv-type <type>", "KV cache storage").choices(["f16", "f32"]).default("f16"));
}

export function addSamplingOptions(cmd: Command): Command {
  return cmd
    .option("--temp <t>", "temperature (0 = greedy)", floatArg("--temp"), 0.8)
    .option("--top-k <k>", "top-k (0 = off)", intArg("--top-k"), 40)
    .option("--top-p <p>", "top-p (1 = off)", floatArg("--top-p"), 0.95)
    .option("--min-p <p>", "min-p (0 = off)", floatArg("--min-p"), 0.05)
    .option("--typical <p>", "locally typical sampling (1 = off)", floatArg("--typical"), 1)
    .option("--repeat-penalty <x>", "repetition penalty (1 = off)", floatArg("--repeat-penalty"), 1)
    .option("--repeat-last-n <n>", "tokens considered for penalties", intArg("--repeat-last-n"), 64)
    .option("--presence-penalty <x>", "presence penalty", floatArg("--presence-penalty"), 0)
    .option("--frequency-penalty <x>", "frequency penalty", floatArg("--frequency-penalty"), 0)
    .option("-s, --seed <n>", "random seed", intArg("--seed"));
}

export interface ModelFlags {
  model: string;
  ctxSize?: number;
  threads?: number;
  batchSize?: number;
  backend: "ref" | "wasm";
  kvType: "f16" | "f32";
}

export interface SamplingFlags {
  temp: number;
  topK: number;
  topP: number;
  minP: number;
  typical: number;
  repeatPenalty: number;
  repeatLastN: number;
  presencePenalty: number;
  frequencyPenalty: number;
  seed?: number;
}
