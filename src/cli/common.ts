// Pieces several commands share: a load progress bar (on a TTY only) and flag → sampler mapping.

import { SingleBar, Presets } from "cli-progress";
import type { SamplerParams } from "../sample/sampler.ts";
import type { LoadOptions } from "../engine/model.ts";
import type { ModelFlags, SamplingFlags } from "./options.ts";

/** A progress callback that draws a bar on stderr when it is a terminal, and nothing otherwise. */
export function loadProgress(label = "loading"): ((p: { loadedBytes: number; totalBytes: number }) => void) | undefined {
  if (!process.stderr.isTTY) return undefined;
  let bar: SingleBar | undefined;
  return ({ loadedBytes, totalBytes }) => {
    if (!bar) {
      bar = new SingleBar({ format: `${label} [{bar}] {percentage}% | {value}/{total} MiB`, stream: process.stderr, clearOnComplete: true }, Presets.shades_classic);
      bar.start(Math.ceil(totalBytes / 2 ** 20), 0);
    }
    bar.update(Math.floor(loadedBytes / 2 ** 20));
    if (loadedBytes >= totalBytes) bar.stop();
  };
}

export function samplerParams(f: SamplingFlags): SamplerParams {
  return {
    temperature: f.temp,
    topK: f.topK,
    topP: f.topP,
    minP: f.minP,
    typicalP: f.typical,
    repeatPenalty: f.repeatPenalty,
    repeatLastN: f.repeatLastN,
    presencePenalty: f.presencePenalty,
    frequencyPenalty: f.frequencyPenalty,
    seed: f.seed,
  };
}

/** The loadModel options the shared model flags ask for, with a progress bar on a terminal. */
export function loadOptions(f: ModelFlags): LoadOptions {
  return {
    contextSize: f.ctxSize,
    threads: f.threads,
    batchSize: f.batchSize,
    backend: f.backend,
    kvType: f.kvType,
    onProgress: loadProgress(),
  };
}
