// Read bandwidth of this machine as WebAssembly sees it: a SIMD load loop (eight 16-byte loads per
// iteration into four i64x2 accumulators, nothing else) over a buffer far larger than the caches,
// split across 1…N worker threads over one shared memory. Decode reads every weight once per
// token, so bytes-per-token ÷ this figure is the fastest decode the machine allows.
//
//   npx node bench/bandwidth.ts [--mib 1024] [--threads 1,2] [--passes 7]

import { parseArgs } from "node:util";
import { Worker } from "node:worker_threads";

const PAGE = 65536;

function leb(n: number): number[] {
  const out: number[] = [];
  do {
    let b = n & 0x7f;
    n >>>= 7;
    if (n !== 0) b |= 0x80;
    out.push(b);
  } while (n !== 0);
  return out;
}

const section = (id: number, body: number[]): number[] => [id, ...leb(body.length), ...body];

/** (func (param ptr end i32) (result i64)): sums [ptr, end) as i64 lanes; end − ptr a multiple of 128. */
function sumModule(pages: number): Uint8Array {
  const code: number[] = [0x01, 0x04, 0x7b]; // four v128 locals (2..5)
  code.push(0x03, 0x40); // loop
  for (let k = 0; k < 8; k++) {
    const acc = 2 + (k % 4);
    code.push(0x20, acc, 0x20, 0x00, 0xfd, 0x00, 0x04, ...leb(16 * k), 0xfd, ...leb(206), 0x21, acc); // acc = i64x2.add(acc, v128.load offset=16k)
  }
  code.push(0x20, 0x00, 0x41, ...[0x80, 0x01], 0x6a, 0x22, 0x00); // ptr += 128 (tee)
  code.push(0x20, 0x01, 0x49, 0x0d, 0x00, 0x0b); // br_if ptr < end; end loop
  code.push(0x20, 0x02, 0x20, 0x03, 0xfd, ...leb(206), 0x20, 0x04, 0xfd, ...leb(206), 0x20, 0x05, 0xfd, ...leb(206), 0xfd, 0x1d, 0x00, 0x0b);
  const bytes = [
    0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00,
    ...section(1, [0x01, 0x60, 0x02, 0x7f, 0x7f, 0x01, 0x7e]),
    ...section(2, [0x01, 0x01, 0x65, 0x01, 0x6d, 0x02, 0x03, ...leb(pages), ...leb(pages)]),
    ...section(3, [0x01, 0x00]),
    ...section(7, [0x01, 0x03, 0x73, 0x75, 0x6d, 0x00, 0x00]),
    ...section(10, [0x01, ...leb(code.length), ...code]),
  ];
  return new Uint8Array(bytes);
}

// Worker body: wait for a new generation number, read its slice, count itself done.
const WORKER = `
const { workerData } = require("node:worker_threads");
const { module, memory, ctrl, from, to } = workerData;
const sum = new WebAssembly.Instance(module, { e: { m: memory } }).exports.sum;
const c = new Int32Array(ctrl);
let gen = 0;
for (;;) {
  Atomics.wait(c, 0, gen);
  gen = Atomics.load(c, 0);
  if (gen < 0) break;
  sum(from, to);
  Atomics.add(c, 1, 1);
  Atomics.notify(c, 1);
}
`;

export interface BandwidthResult {
  threads: number;
  bytes: number;
  /** Bytes per second, median of the passes. */
  median: number;
  best: number;
}

export async function measureBandwidth(opts: { mib?: number; threads?: number[]; passes?: number } = {}): Promise<BandwidthResult[]> {
  const bytes = (opts.mib ?? 1024) * 2 ** 20;
  const pages = bytes / PAGE;
  const memory = new WebAssembly.Memory({ initial: pages, maximum: pages, shared: true });
  // Touch every page so the loop measures reads, not first-touch page faults.
  new Uint8Array(memory.buffer).fill(1);
  const module = new WebAssembly.Module(sumModule(pages) as BufferSource);
  const out: BandwidthResult[] = [];
  for (const threads of opts.threads ?? [1, 2]) {
    const ctrl = new SharedArrayBuffer(8);
    const c = new Int32Array(ctrl);
    const per = Math.floor(bytes / threads / 128) * 128;
    const workers = Array.from({ length: threads }, (_, i) =>
      new Worker(WORKER, { eval: true, workerData: { module, memory, ctrl, from: i * per, to: i === threads - 1 ? bytes : (i + 1) * per } }),
    );
    await Promise.all(workers.map((w) => new Promise((r) => w.once("online", r))));
    const times: number[] = [];
    for (let pass = 0; pass < (opts.passes ?? 7) + 1; pass++) {
      Atomics.store(c, 1, 0);
      const t0 = performance.now();
      Atomics.store(c, 0, pass + 1);
      Atomics.notify(c, 0);
      for (let done; (done = Atomics.load(c, 1)) < threads; ) Atomics.wait(c, 1, done, 1000);
      // Pass 0 warms up (compilation tier, TLB); it is not counted.
      if (pass > 0) times.push((performance.now() - t0) / 1000);
    }
    Atomics.store(c, 0, -1);
    Atomics.notify(c, 0);
    await Promise.all(workers.map((w) => new Promise((r) => w.once("exit", r))));
    const sorted = times.slice().sort((a, b) => a - b);
    out.push({ threads, bytes, median: bytes / sorted[Math.floor(sorted.length / 2)]!, best: bytes / sorted[0]! });
  }
  return out;
}

export function formatBandwidth(rs: readonly BandwidthResult[]): string {
  return [
    `read bandwidth (wasm SIMD load loop over ${(rs[0]!.bytes / 2 ** 30).toFixed(1)} GiB):`,
    ...rs.map((r) => `  ${r.threads} thread${r.threads > 1 ? "s" : " "}  ${(r.median / 1e9).toFixed(1).padStart(5)} GB/s median, ${(r.best / 1e9).toFixed(1)} best`),
  ].join("\n");
}

if (import.meta.main) {
  const { values } = parseArgs({
    options: { mib: { type: "string", default: "1024" }, threads: { type: "string", default: "1,2" }, passes: { type: "string", default: "7" }, json: { type: "boolean", default: false } },
  });
  const r = await measureBandwidth({ mib: Number(values.mib), threads: values.threads!.split(",").map(Number), passes: Number(values.passes) });
  process.stdout.write((values.json ? JSON.stringify(r) : formatBandwidth(r)) + "\n");
}
