// `llamats quantize IN OUT TYPE`: llama-quantize's job — the same per-tensor mixtures, metadata
// carried over, the output streamed tensor by tensor.

import { resolve } from "node:path";
import type { Command } from "commander";
import { UserError } from "../errors.ts";
import { ggmlTypeName } from "../format/ggml.ts";
import type { GgufType } from "../format/gguf.ts";
import type { ModelFile } from "../format/model-file.ts";
import { parseQuantType, QUANT_TYPE_NAMES, quantizeModel, type TensorPlan } from "../format/quantize-model.ts";
import { writeGgufFile } from "../node/file-sink.ts";
import { openModelFile } from "../node/open.ts";
import { createQuantizePool } from "../node/quantize-pool.ts";
import { intArg } from "./options.ts";
import { mib, progressBar } from "./progress.ts";

interface Flags {
  threads: number;
  allowRequantize: boolean;
  dryRun: boolean;
}

export function register(program: Command): void {
  program
    .command("quantize")
    .description("quantize a GGUF (or a Hugging Face folder) with llama.cpp's per-tensor type mixtures")
    .argument("<input>", "model to read: GGUF with F32/F16/BF16 weights, split GGUF, or Hugging Face folder")
    .argument("<output>", "GGUF file to write")
    .argument("<type>", `target type: ${QUANT_TYPE_NAMES.join(", ")}`)
    .option("-t, --threads <n>", "threads encoding each tensor (worker_threads)", intArg("--threads", 1), 1)
    .option("--allow-requantize", "accept input tensors that are already quantized (quality drops twice)", false)
    .option("--dry-run", "print each tensor's chosen type and the output size, write nothing", false)
    .addHelpText(
      "after",
      `\nExamples:\n  llamats quantize model-f16.gguf model-Q4_K_M.gguf Q4_K_M\n  llamats quantize model-f16.gguf model-Q8_0.gguf q8_0 --threads 4\n  llamats quantize model-f16.gguf /dev/null Q3_K_M --dry-run\n`,
    )
    .action(async (input: string, output: string, typeName: string, flags: Flags) => {
      const type = parseQuantType(typeName);
      if (!flags.dryRun && resolve(input) === resolve(output)) throw new UserError("the output file must differ from the input file");
      const file = (await openModelFile(input)) as ModelFile & { metadataTypes?: ReadonlyMap<string, GgufType> };
      const pool = flags.threads > 1 && !flags.dryRun ? createQuantizePool(flags.threads) : undefined;
      try {
        let bar = progressBar(0, "");
        const { input: writeInput, plan } = quantizeModel(file, type, {
          allowRequantize: flags.allowRequantize,
          quantize: pool?.quantize,
          onTensor: (p) => {
            if (p.index === 0) bar = progressBar(p.totalInputBytes, `quantize [{bar}] {percentage}% | {name}`);
            bar.update(p.inputBytes, { name: p.name });
          },
        });
        if (flags.dryRun) {
          process.stdout.write(planText(plan));
          return;
        }
        const t0 = performance.now();
        try {
          await writeGgufFile(output, writeInput);
        } finally {
          bar.stop();
        }
        const inBytes = file.tensors.reduce((a, t) => a + t.byteLength, 0);
        const outBytes = plan.reduce((a, p) => a + p.bytes, 0);
        const params = file.tensors.reduce((a, t) => a + t.elements, 0);
        process.stderr.write(
          `quantize: ${output}: ${type}, ${plan.length} tensors (${typeCounts(plan)}), ` +
            `${mib(inBytes)} MiB → ${mib(outBytes)} MiB (${((outBytes * 8) / params).toFixed(2)} BPW) in ${((performance.now() - t0) / 1000).toFixed(1)} s\n`,
        );
      } finally {
        await pool?.close();
        await file.close();
      }
    });
}

function typeCounts(plan: readonly TensorPlan[]): string {
  const n = new Map<string, number>();
  for (const p of plan) n.set(ggmlTypeName(p.to), (n.get(ggmlTypeName(p.to)) ?? 0) + 1);
  return [...n].map(([k, v]) => `${v} ${k}`).join(", ");
}

function planText(plan: readonly TensorPlan[]): string {
  const w = Math.max(...plan.map((p) => p.name.length));
  const lines = plan.map((p) => `${p.name.padEnd(w)}  ${p.shape.join(" × ").padEnd(14)}  ${ggmlTypeName(p.from).padEnd(5)} → ${ggmlTypeName(p.to).padEnd(5)}  ${mib(p.bytes)} MiB`);
  const total = plan.reduce((a, p) => a + p.bytes, 0);
  return `${lines.join("\n")}\ntotal: ${plan.length} tensors (${typeCounts(plan)}), ${total} bytes of tensor data (${mib(total)} MiB)\n`;
}
