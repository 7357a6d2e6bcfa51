// worker_threads entry of the quantize pool: encodes the slices it is sent.

import { parentPort } from "node:worker_threads";
import type { GgmlType } from "../format/ggml.ts";
import { quantize } from "../format/quant.ts";

parentPort!.on("message", (job: { id: number; type: GgmlType; values: Float32Array }) => {
  try {
    const bytes = quantize(job.type, job.values);
    parentPort!.postMessage({ id: job.id, bytes }, [bytes.buffer as ArrayBuffer]);
  } catch (e) {
    parentPort!.postMessage({ id: job.id, error: (e as Error).message });
  }
});
