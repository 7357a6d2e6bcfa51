// `llamats perplexity`: llama.cpp's perplexity method over a text file.

import { readFile } from "node:fs/promises";
import type { Command } from "commander";
import { SingleBar, Presets } from "cli-progress";
import { loadModel } from "../index.ts";
import { perplexity } from "../engine/perplexity.ts";
import { UserError } from "../errors.ts";
import { addModelOptions, type ModelFlags } from "./options.ts";
import { loadOptions } from "./common.ts";

export function register(program: Command): void {
  const cmd = program
    .command("perplexity")
    .description("perplexity of a model on a text (llama.cpp's method: chunks of -c tokens, second half scored)")
    .requiredOption("-f, --file <path>", "text file")
    .option("--json", "print { ppl, error, chunks, tokens } as JSON", false);
  addModelOptions(cmd);
  cmd.addHelpText("after", `\nExample:\n  llamats perplexity -m models/stories260K.gguf -f story.txt -c 128\n`);
  cmd.action(async (flags: ModelFlags & { file: string; json: boolean }) => {
    const text = await readFile(flags.file, "utf8").catch(() => {
      throw new UserError(`cannot read ${flags.file}`);
    });
    const model = await loadModel(flags.model, { ...loadOptions(flags), contextSize: flags.ctxSize ?? 512 });
    try {
      let bar: SingleBar | undefined;
      const r = await perplexity(model, text, {
        onChunk: (done, total, ppl) => {
          if (!process.stderr.isTTY) return;
          bar ??= new SingleBar({ format: "perplexity [{bar}] {value}/{total} chunks | PPL {ppl}", stream: process.stderr }, Presets.shades_classic);
          if (done === 1) bar.start(total, 0, { ppl: "" });
          bar.update(done, { ppl: ppl.toFixed(4) });
          if (done === total) bar.stop();
        },
      });
      if (flags.json) process.stdout.write(JSON.stringify({ ppl: r.ppl, error: r.error, chunks: r.chunks, tokens: r.scoredTokens }) + "\n");
      else process.stdout.write(`PPL = ${r.ppl.toFixed(4)} +/- ${r.error.toFixed(5)} (${r.chunks} chunks, ${r.scoredTokens} tokens scored)\n`);
    } finally {
      await model.dispose();
    }
  });
}
