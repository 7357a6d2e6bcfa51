// Quantization across worker_threads: a tensor's rows are split into one contiguous slice per
// worker. Every GGML block is encoded independently, so the bytes equal a single-threaded run.

import { Worker } from "node:worker_threads";
import type { GgmlType } from "../format/ggml.ts";
import { quantize, quantizedSize } from "../format/quant.ts";

interface Job {
  id: number;
  type: GgmlType;
  values: Float32Array;
}

export interface QuantizePool {
  quantize(type: GgmlType, values: Float32Array, rowLength: number): Promise<Uint8Array>;
  close(): Promise<void>;
}

/** Rows per slice below which a tensor is not worth sending to the workers. */
const MIN_ROWS_PER_WORKER = 16;

export function createQuantizePool(threads: number): QuantizePool {
  const workers = Array.from({ length: Math.max(0, threads - 1) }, () => new Worker(new URL("./quantize-worker.ts", import.meta.url)));
  const pending = new Map<number, { resolve: (b: Uint8Array) => void; reject: (e: unknown) => void }>();
  let nextId = 0;
  for (const w of workers) {
    w.on("message", (m: { id: number; bytes?: Uint8Array; error?: string }) => {
      const p = pending.get(m.id);
      pending.delete(m.id);
      if (m.error !== undefined) p?.reject(new Error(m.error));
      else p?.resolve(m.bytes!);
    });
    w.on("error", (e) => {
      for (const p of pending.values()) p.reject(e);
      pending.clear();
    });
  }
  const run = (w: Worker, type: GgmlType, values: Float32Array): Promise<Uint8Array> =>
    new Promise((resolve, reject) => {
      const job: Job = { id: nextId++, type, values };
      pending.set(job.id, { resolve, reject });
      w.postMessage(job, [values.buffer as ArrayBuffer]);
    });

  return {
    async quantize(type, values, rowLength) {
      const rows = values.length / rowLength;
      const parts = Math.min(workers.length + 1, Math.floor(rows / MIN_ROWS_PER_WORKER));
      if (parts <= 1) return quantize(type, values);
      const out = new Uint8Array(quantizedSize(type, values.length));
      const per = Math.ceil(rows / parts);
      const jobs: Promise<void>[] = [];
      // Slices 1.. go to workers (copied, then transferred); slice 0 runs here meanwhile.
      for (let p = 1; p < parts; p++) {
        const r0 = p * per, r1 = Math.min(rows, r0 + per);
        if (r0 >= r1) break;
        const slice = values.slice(r0 * rowLength, r1 * rowLength);
        const at = quantizedSize(type, r0 * rowLength);
        jobs.push(run(workers[p - 1]!, type, slice).then((b) => out.set(b, at)));
      }
      out.set(quantize(type, values, { offset: 0, n: Math.min(rows, per) * rowLength }), 0);
      await Promise.all(jobs);
      return out;
    },
    async close() {
      await Promise.all(workers.map((w) => w.terminate()));
    },
  };
}
