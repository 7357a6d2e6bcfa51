// Split GGUF models (llama.cpp `gguf-split`): `name-00001-of-00003.gguf` … each part is a GGUF
// file; the first holds all metadata, every part holds `split.no`, `split.count` and
// `split.tensors.count`, and the tensors are spread over the parts. Presented here as one ModelFile.

import { GgufError, GgufValueType } from "./gguf.ts";
import type { GgufFile, GgufTensorInfo, GgufType, GgufWriteInput } from "./gguf.ts";
import { readGguf, tensorByteLength } from "./gguf.ts";
import type { MetaValue, ModelFile } from "./model-file.ts";
import type { RandomAccessSource } from "./source.ts";

export const SPLIT_NO = "split.no";
export const SPLIT_COUNT = "split.count";
export const SPLIT_TENSORS_COUNT = "split.tensors.count";

/** `prefix-00001-of-00003.gguf` → { prefix, no: 1, count: 3 }; undefined for other names. */
export function parseSplitName(path: string): { prefix: string; no: number; count: number } | undefined {
  const m = /^(.*)-(\d{5})-of-(\d{5})\.gguf$/.exec(path);
  if (!m) return undefined;
  return { prefix: m[1]!, no: Number(m[2]), count: Number(m[3]) };
}

export function splitPartName(prefix: string, no: number, count: number): string {
  return `${prefix}-${String(no).padStart(5, "0")}-of-${String(count).padStart(5, "0")}.gguf`;
}

/** Several GGUF parts seen as one model: metadata of part 1 (without split.* keys), tensors of all. */
export class SplitGguf implements ModelFile {
  readonly format = "gguf" as const;
  readonly name: string;
  readonly parts: readonly GgufFile[];
  readonly metadata: ReadonlyMap<string, MetaValue>;
  readonly metadataTypes: ReadonlyMap<string, GgufType>;
  readonly tensors: readonly GgufTensorInfo[];
  readonly #partOf: Map<string, GgufFile>;

  constructor(parts: GgufFile[]) {
    this.parts = parts;
    this.name = parts[0]!.name;
    const metadata = new Map<string, MetaValue>();
    const metadataTypes = new Map<string, GgufType>();
    for (const [k, v] of parts[0]!.metadata) {
      if (k.startsWith("split.")) continue;
      metadata.set(k, v);
      metadataTypes.set(k, parts[0]!.metadataTypes.get(k)!);
    }
    this.metadata = metadata;
    this.metadataTypes = metadataTypes;
    this.#partOf = new Map();
    const tensors: GgufTensorInfo[] = [];
    for (const p of parts) {
      for (const t of p.tensors) {
        tensors.push(t);
        this.#partOf.set(t.name, p);
      }
    }
    this.tensors = tensors;
  }

  /** The part holding a tensor (its `offset` is relative to that part's data section). */
  partOf(name: string): GgufFile | undefined {
    return this.#partOf.get(name);
  }

  async readTensor(name: string): Promise<Uint8Array> {
    const p = this.#partOf.get(name);
    if (!p) throw new GgufError(this.name, 0, `no tensor named "${name}"`);
    return p.readTensor(name);
  }

  async readTensorRange(name: string, offset: number, length: number, into?: Uint8Array): Promise<Uint8Array> {
    const p = this.#partOf.get(name);
    if (!p) throw new GgufError(this.name, 0, `no tensor named "${name}"`);
    return p.readTensorRange(name, offset, length, into);
  }

  async close(): Promise<void> {
    await Promise.all(this.parts.map((p) => p.close()));
  }
}

function splitKey(f: GgufFile, key: string, required: boolean): number | undefined {
  const v = f.metadata.get(key);
  if (v === undefined) {
    if (required) throw new GgufError(f.name, 0, `split part lacks the "${key}" key`);
    return undefined;
  }
  if (typeof v !== "number" || !Number.isInteger(v) || v < 0) throw new GgufError(f.name, 0, `split key "${key}" has invalid value ${String(v)}`);
  return v;
}

/**
 * Reads all parts of a split model (in any order) and checks they belong together: same
 * `split.count`, each `split.no` present once, tensor names unique across parts, and the total
 * tensor count equal to `split.tensors.count` of the first part. A single unsplit file is accepted.
 */
export async function readSplitGguf(sources: readonly RandomAccessSource[]): Promise<SplitGguf> {
  if (sources.length === 0) throw new RangeError("readSplitGguf: no sources");
  const parts: GgufFile[] = [];
  try {
    for (const s of sources) parts.push(await readGguf(s));
    const byNo: GgufFile[] = new Array(sources.length);
    for (const p of parts) {
      const count = splitKey(p, SPLIT_COUNT, sources.length > 1) ?? 1;
      const no = splitKey(p, SPLIT_NO, sources.length > 1) ?? 0;
      if (count !== sources.length) {
        throw new GgufError(p.name, 0, `split.count is ${count} but ${sources.length} part${sources.length === 1 ? " was" : "s were"} given`);
      }
      if (no >= count) throw new GgufError(p.name, 0, `split.no ${no} is not below split.count ${count}`);
      if (byNo[no]) throw new GgufError(p.name, 0, `split.no ${no} also belongs to ${byNo[no]!.name}`);
      byNo[no] = p;
    }
    const first = byNo[0]!;
    const expected = splitKey(first, SPLIT_TENSORS_COUNT, false);
    const seen = new Map<string, GgufFile>();
    for (const p of byNo) {
      for (const t of p.tensors) {
        const other = seen.get(t.name);
        if (other) throw new GgufError(p.name, 0, `tensor "${t.name}" is also in ${other.name}`);
        seen.set(t.name, p);
      }
    }
    if (expected !== undefined && expected !== seen.size) {
      throw new GgufError(first.name, 0, `split.tensors.count is ${expected} but the parts hold ${seen.size} tensors`);
    }
    return new SplitGguf(byNo);
  } catch (e) {
    // The caller handed the sources over; close them all, parsed or not.
    await Promise.all(sources.map((s) => s.close?.().catch(() => {})));
    throw e;
  }
}

/**
 * Splits writer input into `count` parts the way llama.cpp's gguf-split does: all metadata in the
 * first part, consecutive runs of tensors (balanced by bytes) in each, split.* keys in every part.
 */
export function splitGgufInput(input: GgufWriteInput, count: number): GgufWriteInput[] {
  if (!Number.isInteger(count) || count < 1 || count > 99999) throw new RangeError(`split count ${count} out of range`);
  const sizes = input.tensors.map((t) => tensorByteLength(t.type, t.shape));
  const total = sizes.reduce((a, b) => a + b, 0);
  const groups: GgufWriteInput["tensors"][number][][] = Array.from({ length: count }, () => []);
  let acc = 0;
  input.tensors.forEach((t, i) => {
    const g = Math.min(count - 1, Math.floor((acc / Math.max(total, 1)) * count));
    groups[g]!.push(t);
    acc += sizes[i]!;
  });
  const splitTypes: [string, GgufType][] = [
    [SPLIT_NO, { type: GgufValueType.U16 }],
    [SPLIT_COUNT, { type: GgufValueType.U16 }],
    [SPLIT_TENSORS_COUNT, { type: GgufValueType.I32 }],
  ];
  return groups.map((tensors, no) => {
    const metadata = new Map<string, MetaValue>();
    const types = new Map<string, GgufType>(splitTypes);
    if (no === 0) {
      for (const [k, v] of input.metadata) {
        if (k.startsWith("split.")) continue;
        metadata.set(k, v);
        const t = input.metadataTypes?.get(k);
        if (t) types.set(k, t);
      }
    }
    metadata.set(SPLIT_NO, no);
    metadata.set(SPLIT_COUNT, count);
    metadata.set(SPLIT_TENSORS_COUNT, input.tensors.length);
    return { metadata, metadataTypes: types, tensors };
  });
}
