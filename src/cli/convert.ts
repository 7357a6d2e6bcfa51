// `llamats convert HF_DIR OUT.gguf`: a Hugging Face Llama folder to GGUF, as llama.cpp's
// convert_hf_to_gguf.py does it (same names, permuted Q/K, metadata and tokenizer keys).

import { stat } from "node:fs/promises";
import { Option, type Command } from "commander";
import { UserError } from "../errors.ts";
import { convertModel, OUT_TYPES, parseOutType } from "../format/convert.ts";
import { writeGgufFile } from "../node/file-sink.ts";
import { openHfFolder } from "../node/hf-files.ts";
import { mib, progressBar } from "./progress.ts";

export function register(program: Command): void {
  program
    .command("convert")
    .description("convert a Hugging Face model folder (config.json, safetensors, tokenizer.json) to GGUF")
    .argument("<hf_dir>", "folder with config.json, *.safetensors, tokenizer.json and tokenizer_config.json")
    .argument("<output>", "GGUF file to write")
    .addOption(new Option("--outtype <type>", "type of the weight matrices (norms stay f32)").choices(Object.keys(OUT_TYPES)).default("f16"))
    .addHelpText("after", `\nExamples:\n  llamats convert ./Llama-3.2-1B-Instruct llama-3.2-1b-f16.gguf\n  llamats convert ./TinyLlama-1.1B-Chat-v1.0 tinyllama-q8_0.gguf --outtype q8_0\n`)
    .action(async (dir: string, output: string, flags: { outtype: string }) => {
      const out = parseOutType(flags.outtype);
      const st = await stat(dir).catch(() => {
        throw new UserError(`${dir}: no such folder`);
      });
      if (!st.isDirectory()) throw new UserError(`${dir}: is not a folder (convert reads a Hugging Face model folder; a GGUF is already converted — use \`llamats quantize\` to change its type)`);
      const file = await openHfFolder(dir);
      try {
        const t0 = performance.now();
        let bar = progressBar(0, "");
        const input = convertModel(file, out, {
          onTensor: (p) => {
            if (p.index === 0) bar = progressBar(p.totalBytes, `convert [{bar}] {percentage}% | {name}`);
            bar.update(p.bytes, { name: p.name });
          },
        });
        let bytes: number;
        try {
          ({ bytes } = await writeGgufFile(output, input));
        } finally {
          bar.stop();
        }
        process.stderr.write(`convert: ${output}: ${input.tensors.length} tensors, ${out}, ${mib(bytes)} MiB in ${((performance.now() - t0) / 1000).toFixed(1)} s\n`);
      } finally {
        await file.close();
      }
    });
}
