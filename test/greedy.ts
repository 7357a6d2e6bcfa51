// Greedy generation for the model tests: load, generate `steps` tokens at temperature 0, dispose.

import { loadModel } from "../src/index.ts";
import type { LoadOptions } from "../src/index.ts";

export async function greedyTokens(path: string, prompt: number[], steps: number, opts: LoadOptions): Promise<number[]> {
  const model = await loadModel(path, opts);
  try {
    const gen = model.generate(prompt, { temperature: 0, maxTokens: steps });
    await gen.text();
    return gen.stats.generatedTokens;
  } finally {
    await model.dispose();
  }
}

/** The reference runs ignore end-of-sequence; compare up to the first BOS/EOS the reference emits. */
export function untilEog(tokens: number[]): number[] {
  const i = tokens.findIndex((t) => t === 1 || t === 2);
  return i < 0 ? tokens : tokens.slice(0, i);
}
