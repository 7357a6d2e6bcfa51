// `llamats run`: generate from a prompt, streaming the text to stdout and timings to stderr.

import { readFile } from "node:fs/promises";
import type { Command } from "commander";
import { loadModel } from "../index.ts";
import { UserError } from "../errors.ts";
import { addModelOptions, addSamplingOptions, intArg, type ModelFlags, type SamplingFlags } from "./options.ts";
import { loadOptions, samplerParams } from "./common.ts";

interface RunFlags extends ModelFlags, SamplingFlags {
  prompt?: string;
  file?: string;
  nPredict: number;
  bos: boolean;
  special: boolean;
  json: boolean;
  grammar?: string;
  grammarFile?: string;
  jsonSchema?: string;
}

export function register(program: Command): void {
  const cmd = program
    .command("run")
    .description("generate text from a prompt")
    .option("-p, --prompt <text>", "prompt")
    .option("-f, --file <path>", "read the prompt from a file")
    .option("-n, --n-predict <n>", "tokens to generate", intArg("--n-predict"), 128)
    .option("--no-bos", "do not add BOS even if the vocabulary asks for it")
    .option("--special", "parse special-token text in the prompt", false)
    .option("--json", "print one JSON object with tokens, text and timings", false)
    .option("--grammar <gbnf>", "constrain the output with a GBNF grammar")
    .option("--grammar-file <path>", "read the GBNF grammar from a file")
    .option("-j, --json-schema <schema>", "constrain the output to JSON valid under this JSON Schema ('{}' for any object)");
  addModelOptions(cmd);
  addSamplingOptions(cmd);
  cmd.addHelpText(
    "after",
    `\nExamples:\n  llamats run -m models/stories260K.gguf -p "Once upon a time" -n 64 --temp 0\n` +
      `  llamats run -m model.gguf -p "A person as JSON:" -j '{"type":"object","properties":{"name":{"type":"string"}},"required":["name"]}'\n`,
  );
  cmd.action(async (flags: RunFlags) => {
    if (flags.prompt === undefined && flags.file === undefined) throw new UserError("give a prompt with -p TEXT or -f FILE");
    const prompt = flags.prompt ?? (await readFile(flags.file!, "utf8").catch(() => {
      throw new UserError(`cannot read prompt file ${flags.file}`);
    }));
    const grammar = flags.grammar ?? (flags.grammarFile === undefined ? undefined : await readFile(flags.grammarFile, "utf8").catch(() => {
      throw new UserError(`cannot read grammar file ${flags.grammarFile}`);
    }));
    let jsonSchema: unknown;
    if (flags.jsonSchema !== undefined) {
      try {
        jsonSchema = JSON.parse(flags.jsonSchema);
      } catch {
        throw new UserError("--json-schema is not valid JSON");
      }
    }
    const model = await loadModel(flags.model, loadOptions(flags));
    try {
      const ac = new AbortController();
      const onSigint = () => ac.abort();
      process.once("SIGINT", onSigint);
      const gen = model.generate(prompt, {
        ...samplerParams(flags),
        maxTokens: flags.nPredict,
        addSpecial: flags.bos,
        parseSpecial: flags.special,
        grammar,
        jsonSchema,
        signal: ac.signal,
      });
      let text = "";
      for await (const chunk of gen) {
        text += chunk.text;
        if (!flags.json) process.stdout.write(chunk.text);
      }
      process.off("SIGINT", onSigint);
      const s = gen.stats;
      const timings = {
        prompt_n: s.promptTokens.length - s.reusedTokens,
        prompt_ms: s.promptMs,
        prompt_per_second: ((s.promptTokens.length - s.reusedTokens) / s.promptMs) * 1000,
        predicted_n: s.generatedTokens.length,
        predicted_ms: s.generateMs,
        predicted_per_second: (s.generatedTokens.length / s.generateMs) * 1000,
      };
      if (flags.json) {
        process.stdout.write(JSON.stringify({ prompt_tokens: s.promptTokens, tokens: s.generatedTokens, text, finish_reason: s.finishReason, timings }) + "\n");
      } else {
        process.stdout.write("\n");
        process.stderr.write(
          `prompt: ${timings.prompt_n} tokens, ${timings.prompt_per_second.toFixed(1)} tok/s | ` +
            `generation: ${timings.predicted_n} tokens, ${timings.predicted_per_second.toFixed(1)} tok/s (${s.finishReason})\n`,
        );
      }
    } finally {
      await model.dispose();
    }
  });
}
