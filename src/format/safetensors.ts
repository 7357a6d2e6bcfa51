// Hugging Face safetensors: an 8-byte little-endian header length, a JSON header naming every
// tensor's dtype, shape and byte range, then the raw little-endian data. Checkpoints over ~5 GB
// are sharded, with `model.safetensors.index.json` mapping tensor names to shard files.
// Everything here reads through a RandomAccessSource and validates the header against the file
// size before trusting any number in it.

import { UserError } from "../errors.ts";
import type { RandomAccessSource } from "./source.ts";

export class SafetensorsError extends UserError {
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "SafetensorsError";
  }
}

/**
 * The reference implementation refuses headers above 100 MB; a header that size already
 * describes millions of tensors, so anything larger is damage or an attack.
 */
export const MAX_HEADER_BYTES = 100_000_000;

/** Bits per element of every dtype the format defines. Only F32/F16/BF16 can be read as data. */
const DTYPE_BITS: ReadonlyMap<string, number> = new Map([
  ["BOOL", 8], ["U8", 8], ["I8", 8], ["F8_E5M2", 8], ["F8_E4M3", 8], ["F8_E8M0", 8],
  ["I16", 16], ["U16", 16], ["F16", 16], ["BF16", 16],
  ["I32", 32], ["U32", 32], ["F32", 32],
  ["I64", 64], ["U64", 64], ["F64", 64],
  ["F4", 4], ["F6_E2M3", 6], ["F6_E3M2", 6],
]);

export const READABLE_DTYPES = ["F32", "F16", "BF16"] as const;
export type ReadableDtype = (typeof READABLE_DTYPES)[number];

export function isReadableDtype(dtype: string): dtype is ReadableDtype {
  return (READABLE_DTYPES as readonly string[]).includes(dtype);
}

export interface SafetensorsTensor {
  readonly name: string;
  readonly dtype: string;
  /** Row-major, outermost first (PyTorch order). */
  readonly shape: readonly number[];
  readonly elements: number;
  /** Absolute byte offset of the data in `file.source`. */
  readonly offset: number;
  readonly byteLength: number;
  readonly file: SafetensorsFile;
}

export interface SafetensorsFile {
  readonly source: RandomAccessSource;
  /** The `__metadata__` string map (often `{ format: "pt" }`). */
  readonly metadata: Readonly<Record<string, string>>;
  /** In data-offset order. */
  readonly tensors: readonly SafetensorsTensor[];
  /** Absolute offset of the data section (8 + header length). */
  readonly dataOffset: number;
}

function fail(where: string, what: string): never {
  throw new SafetensorsError(`${where}: ${what}`);
}

function failTensor(file: string, name: string, what: string): never {
  throw new SafetensorsError(`${file}: tensor "${name}" ${what}`);
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

/** Parses the header of one .safetensors file. Reads only the header bytes. */
export async function readSafetensorsHeader(source: RandomAccessSource): Promise<SafetensorsFile> {
  const file = source.name;
  if (source.size < 8) fail(file, `file is ${source.size} bytes, too short for the 8-byte header length`);
  const lenBytes = await source.read(0, 8);
  const headerLen = new DataView(lenBytes.buffer, lenBytes.byteOffset, 8).getBigUint64(0, true);
  if (headerLen > BigInt(MAX_HEADER_BYTES)) {
    fail(file, `header length ${headerLen} at byte 0 exceeds the ${MAX_HEADER_BYTES}-byte limit`);
  }
  const n = Number(headerLen);
  if (n > source.size - 8) fail(file, `header length ${n} at byte 0 runs past the end of the ${source.size}-byte file`);
  if (n < 2) fail(file, `header length ${n} at byte 0 is too short for a JSON object`);
  const headerBytes = await source.read(8, n);

  let text: string;
  try {
    text = new TextDecoder("utf-8", { fatal: true }).decode(headerBytes);
  } catch {
    fail(file, `header (bytes 8..${8 + n}) is not valid UTF-8`);
  }
  let header: unknown;
  try {
    header = JSON.parse(text);
  } catch (e) {
    fail(file, `header (bytes 8..${8 + n}) is not valid JSON: ${(e as Error).message}`);
  }
  if (!isPlainObject(header)) fail(file, `header (bytes 8..${8 + n}) is not a JSON object`);

  const dataOffset = 8 + n;
  const dataSize = source.size - dataOffset;
  let metadata: Record<string, string> = {};
  const result: { source: RandomAccessSource; metadata: Record<string, string>; tensors: SafetensorsTensor[]; dataOffset: number } = {
    source, metadata, tensors: [], dataOffset,
  };
  const ranges: Array<{ name: string; begin: number; end: number }> = [];

  for (const [name, entry] of Object.entries(header)) {
    if (name === "__metadata__") {
      if (!isPlainObject(entry)) fail(file, `__metadata__ in the header is not an object`);
      metadata = {};
      for (const [k, v] of Object.entries(entry)) {
        if (typeof v !== "string") fail(file, `__metadata__["${k}"] is not a string`);
        metadata[k] = v;
      }
      result.metadata = metadata;
      continue;
    }
    if (!isPlainObject(entry)) failTensor(file, name, "is not an object in the header");
    const { dtype, shape, data_offsets: offsets } = entry;
    if (typeof dtype !== "string") failTensor(file, name, "has no dtype string");
    const bits = DTYPE_BITS.get(dtype);
    if (bits === undefined) failTensor(file, name, `has unknown dtype "${dtype}"`);
    if (!Array.isArray(shape)) failTensor(file, name, "has no shape array");
    let elements = 1;
    for (const d of shape) {
      if (!Number.isSafeInteger(d) || d < 0) failTensor(file, name, `has invalid dimension ${JSON.stringify(d)} in shape ${JSON.stringify(shape)}`);
      elements *= d;
      if (!Number.isSafeInteger(elements)) failTensor(file, name, `shape ${JSON.stringify(shape)} has more elements than can be addressed`);
    }
    if (!Array.isArray(offsets) || offsets.length !== 2) failTensor(file, name, "data_offsets is not a [begin, end] pair");
    const [begin, end] = offsets as unknown[];
    if (!Number.isSafeInteger(begin) || !Number.isSafeInteger(end) || (begin as number) < 0 || (end as number) < (begin as number)) {
      failTensor(file, name, `data_offsets ${JSON.stringify(offsets)} are not a valid range`);
    }
    const b = begin as number, e = end as number;
    if (e > dataSize) {
      failTensor(file, name, `data_offsets [${b}, ${e}] run past the end of the data section (${dataSize} bytes from byte ${dataOffset})`);
    }
    const expectBits = elements * bits;
    if (expectBits / 8 !== e - b) {
      failTensor(file, name, `data_offsets [${b}, ${e}] hold ${e - b} bytes but ${dtype} ${JSON.stringify(shape)} needs ${expectBits / 8}`);
    }
    result.tensors.push({
      name, dtype, shape: shape.slice() as number[], elements, offset: dataOffset + b, byteLength: e - b, file: result,
    });
    ranges.push({ name, begin: b, end: e });
  }

  // Overlaps would let one tensor's writes alias another's; zero-length tensors overlap nothing.
  ranges.sort((x, y) => x.begin - y.begin || x.end - y.end);
  let prev: { name: string; begin: number; end: number } | undefined;
  for (const r of ranges) {
    if (r.end === r.begin) continue;
    if (prev && r.begin < prev.end) {
      fail(file, `tensors "${prev.name}" [${prev.begin}, ${prev.end}] and "${r.name}" [${r.begin}, ${r.end}] overlap`);
    }
    prev = r;
  }
  result.tensors.sort((x, y) => x.offset - y.offset);
  return result;
}

/** Raw little-endian bytes of one tensor. Only F32, F16 and BF16 are readable. */
export async function readSafetensorsTensor(t: SafetensorsTensor): Promise<Uint8Array> {
  if (!isReadableDtype(t.dtype)) {
    failTensor(t.file.source.name, t.name, `has dtype ${t.dtype}; llamats reads only ${READABLE_DTYPES.join(", ")}`);
  }
  return t.file.source.read(t.offset, t.byteLength);
}

// ---------------------------------------------------------------------------------------------
// Checkpoints: one model.safetensors, or shards listed by model.safetensors.index.json.

/** Named files of one folder. Runtime-neutral: Node, the browser or HTTP supply it. */
export interface FolderFiles {
  /** A random-access source over the file, or undefined when it does not exist. */
  open(name: string): Promise<RandomAccessSource | undefined>;
  /** The file as UTF-8 text, or undefined when it does not exist. */
  readText(name: string): Promise<string | undefined>;
}

export const SINGLE_FILE = "model.safetensors";
export const INDEX_FILE = "model.safetensors.index.json";

export interface SafetensorsCheckpoint {
  /** One per shard, in the order their names sort. */
  readonly files: readonly SafetensorsFile[];
  /** Every tensor by name (as the index assigns it, for sharded checkpoints). */
  readonly tensors: ReadonlyMap<string, SafetensorsTensor>;
  close(): Promise<void>;
}

/** A shard name may not leave the folder. */
function isPlainFileName(s: string): boolean {
  return s.length > 0 && s !== "." && s !== ".." && !/[\/\\\0]/.test(s);
}

async function closeAll(sources: RandomAccessSource[]): Promise<void> {
  await Promise.allSettled(sources.map((s) => s.close?.()));
}

/**
 * Opens the checkpoint in a folder: the index and its shards when `model.safetensors.index.json`
 * exists, else `model.safetensors`. `folder` names the folder in messages.
 */
export async function openSafetensorsCheckpoint(files: FolderFiles, folder: string): Promise<SafetensorsCheckpoint> {
  const opened: RandomAccessSource[] = [];
  try {
    const indexText = await files.readText(INDEX_FILE);
    if (indexText === undefined) {
      const src = await files.open(SINGLE_FILE);
      if (!src) throw new SafetensorsError(`${folder}: has neither ${SINGLE_FILE} nor ${INDEX_FILE}`);
      opened.push(src);
      const f = await readSafetensorsHeader(src);
      const tensors = new Map(f.tensors.map((t) => [t.name, t]));
      return { files: [f], tensors, close: () => closeAll(opened) };
    }

    const where = `${folder}/${INDEX_FILE}`;
    let index: unknown;
    try {
      index = JSON.parse(indexText);
    } catch (e) {
      fail(where, `is not valid JSON: ${(e as Error).message}`);
    }
    if (!isPlainObject(index) || !isPlainObject(index.weight_map)) fail(where, `has no "weight_map" object`);
    const weightMap = new Map<string, string>();
    for (const [name, shard] of Object.entries(index.weight_map)) {
      if (typeof shard !== "string" || !isPlainFileName(shard)) {
        fail(where, `weight_map["${name}"] is not a file name in the folder: ${JSON.stringify(shard)}`);
      }
      weightMap.set(name, shard);
    }
    if (weightMap.size === 0) fail(where, "weight_map is empty");

    const shardNames = [...new Set(weightMap.values())].sort();
    const shards = new Map<string, SafetensorsFile>();
    for (const shard of shardNames) {
      const src = await files.open(shard);
      if (!src) {
        const first = [...weightMap].find(([, s]) => s === shard)![0];
        fail(where, `lists shard "${shard}" (for "${first}", …) but ${folder}/${shard} does not exist`);
      }
      opened.push(src);
      shards.set(shard, await readSafetensorsHeader(src));
    }
    const tensors = new Map<string, SafetensorsTensor>();
    const byShard = new Map([...shards].map(([s, f]) => [s, new Map(f.tensors.map((t) => [t.name, t]))]));
    for (const [name, shard] of weightMap) {
      const t = byShard.get(shard)!.get(name);
      if (!t) fail(where, `maps tensor "${name}" to ${shard}, which does not contain it`);
      tensors.set(name, t);
    }
    return { files: shardNames.map((s) => shards.get(s)!), tensors, close: () => closeAll(opened) };
  } catch (e) {
    await closeAll(opened);
    throw e;
  }
}

// ---------------------------------------------------------------------------------------------
// Writer: used by `convert` and by tests to produce HF folders.

export interface SafetensorsTensorData {
  readonly name: string;
  readonly dtype: string;
  /** Row-major, outermost first. */
  readonly shape: readonly number[];
  readonly data: Uint8Array;
}

export interface SafetensorsLayout {
  /** Length prefix and JSON header, padded so that the data section starts 8-byte aligned. */
  readonly header: Uint8Array;
  /** Offset of each tensor's data relative to the start of the data section, in input order. */
  readonly offsets: readonly number[];
  /** Total file size. */
  readonly size: number;
}

/**
 * The header for tensors laid out back to back in the given order. Separate from the data so that
 * a writer can stream tensors that do not fit in memory at once.
 */
export function safetensorsLayout(
  tensors: ReadonlyArray<{ name: string; dtype: string; shape: readonly number[]; byteLength: number }>,
  metadata?: Readonly<Record<string, string>>,
): SafetensorsLayout {
  const header: Record<string, unknown> = {};
  if (metadata && Object.keys(metadata).length > 0) header.__metadata__ = metadata;
  const offsets: number[] = [];
  let pos = 0;
  for (const t of tensors) {
    const bits = DTYPE_BITS.get(t.dtype);
    if (bits === undefined) throw new Error(`safetensors writer: unknown dtype ${t.dtype} for ${t.name}`);
    const elements = t.shape.reduce((a, b) => a * b, 1);
    if ((elements * bits) / 8 !== t.byteLength) {
      throw new Error(`safetensors writer: ${t.name} has ${t.byteLength} bytes, ${t.dtype} ${JSON.stringify(t.shape)} needs ${(elements * bits) / 8}`);
    }
    if (t.name in header) throw new Error(`safetensors writer: duplicate tensor ${t.name}`);
    header[t.name] = { dtype: t.dtype, shape: [...t.shape], data_offsets: [pos, pos + t.byteLength] };
    offsets.push(pos);
    pos += t.byteLength;
  }
  let json = JSON.stringify(header);
  let jsonBytes = new TextEncoder().encode(json);
  const pad = (8 - (jsonBytes.length % 8)) % 8;
  if (pad) jsonBytes = new TextEncoder().encode(json + " ".repeat(pad));
  const out = new Uint8Array(8 + jsonBytes.length);
  new DataView(out.buffer).setBigUint64(0, BigInt(jsonBytes.length), true);
  out.set(jsonBytes, 8);
  return { header: out, offsets, size: out.length + pos };
}

/** A whole .safetensors file in memory. */
export function writeSafetensors(tensors: readonly SafetensorsTensorData[], metadata?: Readonly<Record<string, string>>): Uint8Array {
  const layout = safetensorsLayout(tensors.map((t) => ({ ...t, byteLength: t.data.byteLength })), metadata);
  const out = new Uint8Array(layout.size);
  out.set(layout.header, 0);
  tensors.forEach((t, i) => out.set(t.data, layout.header.length + layout.offsets[i]!));
  return out;
}

/** The text of a `model.safetensors.index.json` for the given tensor → shard assignment. */
export function safetensorsIndexJson(weightMap: ReadonlyMap<string, string>, totalSize: number): string {
  return JSON.stringify({ metadata: { total_size: totalSize }, weight_map: Object.fromEntries(weightMap) }, null, 2) + "\n";
}
