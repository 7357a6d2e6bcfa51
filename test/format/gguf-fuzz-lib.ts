// Seeded mutations of real GGUF files for the fuzz tests: byte flips, truncations, huge values
// in count/length fields, and splices. The contract under test: readGguf either parses (and then
// every tensor reads) or throws GgufError — nothing else, and never slowly.

import { readFileSync } from "node:fs";
import { GgufError, readGguf } from "../../src/format/gguf.ts";
import { BytesSource } from "../../src/format/source.ts";

/** mulberry32: the fuzz tests' own PRNG, so their cases do not shift when library code changes. */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export interface Corpus {
  readonly name: string;
  readonly bytes: Uint8Array;
  /** End of the tensor-info table: mutations concentrate on the header. */
  readonly headerEnd: number;
  /** Offsets of u64 count/length/dimension/offset fields. */
  readonly u64Fields: number[];
  /** Offsets of u32 type / n_dims fields. */
  readonly u32Fields: number[];
}

/** Walks a valid GGUF independently of the reader, noting where each size-like field sits. */
export function corpus(path: string): Corpus {
  const bytes = new Uint8Array(readFileSync(path));
  const v = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const u64Fields: number[] = [8, 16];
  const u32Fields: number[] = [4];
  let p = 24;
  const u64 = () => Number(v.getBigUint64(p, true));
  const str = () => {
    u64Fields.push(p);
    const n = u64();
    p += 8 + n;
  };
  const fixed = [1, 1, 2, 2, 4, 4, 4, 1, 0, 0, 8, 8, 8];
  const value = (t: number): void => {
    if (t === 8) return str();
    if (t === 9) {
      u32Fields.push(p);
      const et = v.getUint32(p, true);
      u64Fields.push(p + 4);
      const n = Number(v.getBigUint64(p + 4, true));
      p += 12;
      if (fixed[et]) p += n * fixed[et]!;
      else for (let i = 0; i < n; i++) value(et);
      return;
    }
    p += fixed[t]!;
  };
  const tensors = Number(v.getBigUint64(8, true));
  const kvs = Number(v.getBigUint64(16, true));
  for (let i = 0; i < kvs; i++) {
    str();
    u32Fields.push(p);
    const t = v.getUint32(p, true);
    p += 4;
    value(t);
  }
  for (let i = 0; i < tensors; i++) {
    str();
    u32Fields.push(p);
    const nd = v.getUint32(p, true);
    p += 4;
    for (let d = 0; d < nd; d++, p += 8) u64Fields.push(p);
    u32Fields.push(p);
    p += 4;
    u64Fields.push(p);
    p += 8;
  }
  return { name: path, bytes, headerEnd: p, u64Fields, u32Fields };
}

const HUGE = [2n ** 64n - 1n, 2n ** 63n, 2n ** 53n, 2n ** 53n - 1n, 2n ** 32n, 2n ** 32n - 1n, 2n ** 31n, 0n, 1n];

/** One mutated copy of a corpus file; `kind` says which mutation was applied. */
export function mutate(c: Corpus, rnd: () => number): { bytes: Uint8Array; kind: string } {
  const int = (n: number) => Math.floor(rnd() * n);
  const headerPos = () => (rnd() < 0.9 ? int(c.headerEnd + 32) : int(c.bytes.length));
  const r = rnd();
  if (r < 0.25) {
    const b = c.bytes.slice();
    const flips = 1 + int(8);
    for (let i = 0; i < flips; i++) {
      const at = Math.min(headerPos(), b.length - 1);
      b[at] = rnd() < 0.5 ? b[at]! ^ (1 << int(8)) : int(256);
    }
    return { bytes: b, kind: "flip" };
  }
  if (r < 0.4) {
    return { bytes: c.bytes.slice(0, Math.min(headerPos(), c.bytes.length - 1)), kind: "truncate" };
  }
  if (r < 0.7) {
    const b = c.bytes.slice();
    const v = new DataView(b.buffer);
    const at = c.u64Fields[int(c.u64Fields.length)]!;
    const choice = rnd();
    const value = choice < 0.6 ? HUGE[int(HUGE.length)]!
      : choice < 0.8 ? BigInt(c.bytes.length + int(64) - 32)
      : BigInt(int(2 ** 31)) * BigInt(1 + int(2 ** 20));
    v.setBigUint64(at, BigInt.asUintN(64, value < 0n ? 0n : value), true);
    return { bytes: b, kind: "u64-field" };
  }
  if (r < 0.8) {
    const b = c.bytes.slice();
    const v = new DataView(b.buffer);
    const at = c.u32Fields[int(c.u32Fields.length)]!;
    v.setUint32(at, rnd() < 0.5 ? int(40) : int(2 ** 32), true);
    return { bytes: b, kind: "u32-field" };
  }
  // Splices: copy a run of the file over, into or out of another place in the header.
  const from = headerPos();
  const len = 1 + int(64);
  const to = headerPos();
  const piece = c.bytes.slice(from, from + len);
  const mode = int(3);
  if (mode === 0) {
    const b = c.bytes.slice();
    b.set(piece.subarray(0, Math.max(0, Math.min(piece.length, b.length - to))), Math.min(to, b.length));
    return { bytes: b, kind: "splice-overwrite" };
  }
  const b = new Uint8Array(mode === 1 ? c.bytes.length + piece.length : Math.max(0, c.bytes.length - len));
  if (mode === 1) {
    b.set(c.bytes.subarray(0, to));
    b.set(piece, to);
    b.set(c.bytes.subarray(to), to + piece.length);
    return { bytes: b, kind: "splice-insert" };
  }
  b.set(c.bytes.subarray(0, to));
  b.set(c.bytes.subarray(to + len), to);
  return { bytes: b.subarray(0, Math.min(b.length, to + Math.max(0, c.bytes.length - to - len))), kind: "splice-delete" };
}

export type Outcome = "parsed" | "error";

/** Runs one case; returns its outcome, or throws whatever escaped that was not a GgufError. */
export async function runCase(bytes: Uint8Array): Promise<Outcome> {
  try {
    const f = await readGguf(new BytesSource(bytes, "fuzz.gguf"));
    for (const t of f.tensors) {
      const data = await f.readTensor(t.name);
      if (data.byteLength !== t.byteLength) throw new Error(`tensor ${t.name}: read ${data.byteLength} of ${t.byteLength} bytes`);
    }
    return "parsed";
  } catch (e) {
    if (e instanceof GgufError && /at byte offset \d+\)$/.test(e.message)) return "error";
    throw e;
  }
}

export interface FuzzReport {
  cases: number;
  parsed: number;
  errors: number;
  maxCaseMs: number;
  maxCase: string;
  ms: number;
  byKind: Record<string, number>;
}

/** Runs `cases` mutations round-robin over the corpora; rethrows the first contract violation with its seed. */
export async function fuzz(corpora: readonly Corpus[], cases: number, seed: number, weights?: readonly number[]): Promise<FuzzReport> {
  const rnd = prng(seed);
  const report: FuzzReport = { cases: 0, parsed: 0, errors: 0, maxCaseMs: 0, maxCase: "", ms: 0, byKind: {} };
  const total = (weights ?? corpora.map(() => 1)).reduce((a, b) => a + b, 0);
  const t0 = performance.now();
  for (let i = 0; i < cases; i++) {
    let pick = rnd() * total;
    let ci = 0;
    while (ci < corpora.length - 1 && (pick -= (weights?.[ci] ?? 1)) >= 0) ci++;
    const c = corpora[ci]!;
    const caseSeed = Math.floor(rnd() * 2 ** 32);
    const { bytes, kind } = mutate(c, prng(caseSeed));
    const s = performance.now();
    let outcome: Outcome;
    try {
      outcome = await runCase(bytes);
    } catch (e) {
      throw new Error(`fuzz case ${i} (${c.name}, ${kind}, case seed ${caseSeed}) broke the contract: ${(e as Error)?.stack ?? String(e)}`);
    }
    const ms = performance.now() - s;
    if (ms > report.maxCaseMs) {
      report.maxCaseMs = ms;
      report.maxCase = `${c.name} ${kind} seed ${caseSeed}`;
    }
    report.cases++;
    report[outcome === "parsed" ? "parsed" : "errors"]++;
    report.byKind[kind] = (report.byKind[kind] ?? 0) + 1;
  }
  report.ms = performance.now() - t0;
  return report;
}
