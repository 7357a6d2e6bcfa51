// GGUF: the single-file model container of llama.cpp. This module reads a GGUF header through a
// random-access source (never the whole file), validates every size against the bytes that are
// really there, and writes GGUF v3 to a streaming sink. Split models live in gguf-split.ts.
//
// Layout (little-endian): "GGUF" u32 version, u64 tensor_count, u64 kv_count, kv_count × (string
// key, u32 value type, value), tensor_count × (string name, u32 n_dims, n_dims × u64 ne, u32 ggml
// type, u64 offset), zero padding to `general.alignment`, then tensor data at those offsets.

import { UserError } from "../errors.ts";
import { ggmlTypeInfo, ggmlTypeName, rowBytes } from "./ggml.ts";
import type { GgmlType } from "./ggml.ts";
import type { MetaValue, ModelFile, TensorInfo } from "./model-file.ts";
import type { RandomAccessSource } from "./source.ts";

export const GgufValueType = {
  U8: 0, I8: 1, U16: 2, I16: 3, U32: 4, I32: 5, F32: 6, BOOL: 7, STRING: 8, ARRAY: 9, U64: 10, I64: 11, F64: 12,
} as const;
export type GgufValueType = (typeof GgufValueType)[keyof typeof GgufValueType];

const valueTypeNames = ["u8", "i8", "u16", "i16", "u32", "i32", "f32", "bool", "string", "array", "u64", "i64", "f64"];
/** Bytes of one value of a fixed-size type; 0 for string and array. */
const fixedSize = [1, 1, 2, 2, 4, 4, 4, 1, 0, 0, 8, 8, 8];

export function ggufValueTypeName(t: number): string {
  return valueTypeNames[t] ?? `unknown(${t})`;
}

/**
 * The stored type of a metadata value, kept so that a writer reproduces the file exactly.
 * `arrayType` is the element type of an array; for arrays of arrays `elements` holds the type of
 * each inner array, since GGUF lets every inner array pick its own element type.
 */
export interface GgufType {
  readonly type: GgufValueType;
  readonly arrayType?: GgufValueType;
  readonly elements?: readonly GgufType[];
}

export const GGUF_MAGIC = 0x46554747; // "GGUF" read as a little-endian u32
export const GGUF_DEFAULT_ALIGNMENT = 32;
const MAX_DIMS = 4;
/** Arrays of arrays are legal but rare; deeper nesting than this is treated as hostile (it would recurse). */
const MAX_ARRAY_DEPTH = 8;

/** A damaged or unsupported GGUF file. `offset` is the byte offset where the problem was found. */
export class GgufError extends UserError {
  readonly file: string;
  readonly offset: number;
  constructor(file: string, offset: number, problem: string) {
    super(`${file}: ${problem} (at byte offset ${offset})`);
    this.name = "GgufError";
    this.file = file;
    this.offset = offset;
  }
}

export interface GgufTensorInfo extends TensorInfo {
  /** Offset of the tensor's data relative to the start of the data section (`dataOffset`). */
  readonly offset: number;
}

// ---------------------------------------------------------------------------------------------
// Reader

/** Header bytes are pulled in windows of at least this size, so a big vocabulary costs few reads. */
const WINDOW = 1 << 20;

// ignoreBOM keeps a leading U+FEFF: Llama 2's vocabulary has a token that is exactly the BOM.
const utf8 = new TextDecoder("utf-8", { ignoreBOM: true });
const utf8Strict = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true });

/**
 * A forward cursor over the header. Getters are synchronous and assume `fill` made the bytes
 * resident, so the hot loops (vocabularies of 10⁵ strings) await only when the window runs out.
 */
class Cursor {
  readonly src: RandomAccessSource;
  readonly size: number;
  buf: Uint8Array = new Uint8Array(0);
  view: DataView = new DataView(this.buf.buffer);
  /** File offset of buf[0]. */
  start = 0;
  /** Current file offset. */
  pos = 0;

  constructor(src: RandomAccessSource) {
    this.src = src;
    this.size = src.size;
  }

  fail(offset: number, problem: string): never {
    throw new GgufError(this.src.name, offset, problem);
  }

  get left(): number {
    return this.size - this.pos;
  }

  has(n: number): boolean {
    return this.pos + n <= this.start + this.buf.length;
  }

  /** Makes bytes [pos, pos + n) resident, or reports the file as truncated while reading `what`. */
  async fill(n: number, what: string): Promise<void> {
    if (this.has(n)) return;
    if (n > this.left) {
      this.fail(this.pos, `file is truncated: ${what} needs ${n} bytes but only ${this.left} remain in the ${this.size}-byte file`);
    }
    const length = Math.min(this.left, Math.max(n, WINDOW));
    const bytes = await this.src.read(this.pos, length);
    if (bytes.byteLength !== length) this.fail(this.pos, `short read: got ${bytes.byteLength} of ${length} bytes`);
    this.buf = bytes;
    this.view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    this.start = this.pos;
  }

  u8(): number {
    return this.buf[this.pos++ - this.start]!;
  }
  u32(): number {
    const v = this.view.getUint32(this.pos - this.start, true);
    this.pos += 4;
    return v;
  }
  /** A u64 as a number when it is below 2^53, else -1 (callers treat it as "too large"). */
  u64n(): number {
    const lo = this.view.getUint32(this.pos - this.start, true);
    const hi = this.view.getUint32(this.pos - this.start + 4, true);
    this.pos += 8;
    return hi < 0x200000 ? hi * 0x100000000 + lo : -1;
  }
  u64raw(): bigint {
    const v = this.view.getBigUint64(this.pos - this.start, true);
    this.pos += 8;
    return v;
  }
}

/** Reads one fixed-size scalar at buffer index `i` (the caller has checked residency). */
function scalarAt(view: DataView, buf: Uint8Array, i: number, type: number): number | bigint | boolean {
  switch (type) {
    case GgufValueType.U8: return buf[i]!;
    case GgufValueType.I8: return view.getInt8(i);
    case GgufValueType.U16: return view.getUint16(i, true);
    case GgufValueType.I16: return view.getInt16(i, true);
    case GgufValueType.U32: return view.getUint32(i, true);
    case GgufValueType.I32: return view.getInt32(i, true);
    case GgufValueType.F32: return view.getFloat32(i, true);
    case GgufValueType.U64: return view.getBigUint64(i, true);
    case GgufValueType.I64: return view.getBigInt64(i, true);
    case GgufValueType.F64: return view.getFloat64(i, true);
    default: return buf[i] === 1; // BOOL; other values are rejected by the caller
  }
}

function isKnownValueType(t: number): t is GgufValueType {
  return t >= 0 && t <= 12;
}

async function readString(c: Cursor, what: string, strict: boolean): Promise<string> {
  if (!c.has(8)) await c.fill(8, `the length of ${what}`);
  const at = c.pos;
  const len = c.u64n();
  if (len < 0 || len > c.left) c.fail(at, `${what} has length ${len < 0 ? "≥ 2^53" : len} but only ${c.left} bytes remain in the file`);
  if (!c.has(len)) await c.fill(len, what);
  const i = c.pos - c.start;
  c.pos += len;
  if (!strict) return decodeUtf8(c.buf, i, i + len);
  try {
    return utf8Strict.decode(c.buf.subarray(i, i + len));
  } catch {
    return c.fail(at + 8, `${what} is not valid UTF-8`);
  }
}

/** ASCII strings (nearly all vocabulary entries) skip the decoder call, which dominates otherwise. */
function decodeUtf8(buf: Uint8Array, from: number, to: number): string {
  if (to - from <= 24) {
    let s = "";
    for (let i = from; i < to; i++) {
      const b = buf[i]!;
      if (b >= 0x80) return utf8.decode(buf.subarray(from, to));
      s += String.fromCharCode(b);
    }
    return s;
  }
  return utf8.decode(buf.subarray(from, to));
}

async function readValue(c: Cursor, type: number, what: string, typeAt: number): Promise<{ value: MetaValue; type: GgufType }> {
  if (!isKnownValueType(type)) c.fail(typeAt, `${what} has unknown value type ${type}`);
  if (type === GgufValueType.STRING) return { value: await readString(c, what, false), type: { type } };
  if (type === GgufValueType.ARRAY) return readArray(c, what, 1);
  const n = fixedSize[type]!;
  if (!c.has(n)) await c.fill(n, what);
  const at = c.pos;
  const i = at - c.start;
  if (type === GgufValueType.BOOL && c.buf[i]! > 1) c.fail(at, `${what} is a bool with invalid byte ${c.buf[i]}`);
  c.pos += n;
  return { value: scalarAt(c.view, c.buf, i, type), type: { type } };
}

async function readArray(c: Cursor, what: string, depth: number): Promise<{ value: MetaValue; type: GgufType }> {
  if (!c.has(12)) await c.fill(12, `the header of array ${what}`);
  const typeAt = c.pos;
  if (depth > MAX_ARRAY_DEPTH) c.fail(typeAt, `${what} nests arrays more than ${MAX_ARRAY_DEPTH} deep`);
  const et = c.u32();
  const countAt = c.pos;
  const count = c.u64n();
  if (!isKnownValueType(et)) c.fail(typeAt, `array ${what} has unknown element type ${et}`);
  // Smallest possible encoding of each element: a string is at least its 8-byte length, an inner
  // array at least its 12-byte header. This bounds `count` before anything is allocated.
  const minElement = et === GgufValueType.STRING ? 8 : et === GgufValueType.ARRAY ? 12 : fixedSize[et]!;
  if (count < 0 || count * minElement > c.left) {
    c.fail(countAt, `array ${what} claims ${count < 0 ? "≥ 2^53" : count} ${ggufValueTypeName(et)} elements, more than the ${c.left} bytes left in the file can hold`);
  }
  const out: MetaValue[] = new Array(count);
  if (et === GgufValueType.STRING) {
    await readStringElements(c, out, what);
    return { value: out, type: { type: GgufValueType.ARRAY, arrayType: et } };
  }
  if (et === GgufValueType.ARRAY) {
    const elements: GgufType[] = new Array(count);
    for (let k = 0; k < count; k++) {
      const r = await readArray(c, `${what}[${k}]`, depth + 1);
      out[k] = r.value;
      elements[k] = r.type;
    }
    return { value: out, type: { type: GgufValueType.ARRAY, arrayType: et, elements } };
  }
  const size = minElement;
  let k = 0;
  while (k < count) {
    const chunk = Math.min(count - k, Math.max(1, Math.floor(WINDOW / size)));
    if (!c.has(chunk * size)) await c.fill(chunk * size, `array ${what}`);
    let i = c.pos - c.start;
    const { view, buf } = c;
    if (et === GgufValueType.BOOL) {
      for (let j = 0; j < chunk; j++) {
        if (buf[i + j]! > 1) c.fail(c.start + i + j, `array ${what} holds a bool with invalid byte ${buf[i + j]}`);
      }
    }
    for (const end = k + chunk; k < end; k++, i += size) out[k] = scalarAt(view, buf, i, et);
    c.pos = c.start + i;
  }
  return { value: out, type: { type: GgufValueType.ARRAY, arrayType: et } };
}

async function readStringElements(c: Cursor, out: MetaValue[], what: string): Promise<void> {
  const count = out.length;
  let k = 0;
  while (k < count) {
    // Decode every string that is already resident without awaiting; refill only at the edge.
    let i = c.pos - c.start;
    const { view, buf } = c;
    const end = buf.length;
    const fileLeftAtBuf0 = c.size - c.start;
    while (k < count && i + 8 <= end) {
      const lo = view.getUint32(i, true);
      const hi = view.getUint32(i + 4, true);
      if (hi !== 0 || lo > fileLeftAtBuf0 - i - 8) {
        c.pos = c.start + i;
        c.fail(c.pos, `string ${k} of array ${what} has length ${hi !== 0 ? "≥ 2^32" : lo} but only ${fileLeftAtBuf0 - i - 8} bytes remain in the file`);
      }
      if (i + 8 + lo > end) break;
      out[k++] = decodeUtf8(buf, i + 8, i + 8 + lo);
      i += 8 + lo;
    }
    c.pos = c.start + i;
    if (k < count) {
      let need = 8;
      if (i + 8 <= end) need += view.getUint32(i, true); // the length is known and already checked
      await c.fill(need, `string ${k} of array ${what}`);
    }
  }
}

export interface GgufHeaderOptions {
  /** Reject files whose metadata would take more than this many bytes (default: no limit beyond the file size). */
  readonly maxHeaderBytes?: number;
}

/** A parsed GGUF file: metadata and tensor table in memory, tensor data read on demand. */
export class GgufFile implements ModelFile {
  readonly format = "gguf" as const;
  readonly name: string;
  readonly source: RandomAccessSource;
  readonly version: number;
  readonly alignment: number;
  /** Absolute file offset of the data section. */
  readonly dataOffset: number;
  /** End of the tensor-info table (before padding). */
  readonly headerEnd: number;
  readonly metadata: ReadonlyMap<string, MetaValue>;
  readonly metadataTypes: ReadonlyMap<string, GgufType>;
  readonly tensors: readonly GgufTensorInfo[];
  readonly #byName: Map<string, GgufTensorInfo>;

  constructor(init: {
    source: RandomAccessSource; version: number; alignment: number; dataOffset: number; headerEnd: number;
    metadata: Map<string, MetaValue>; metadataTypes: Map<string, GgufType>; tensors: GgufTensorInfo[];
  }) {
    this.source = init.source;
    this.name = init.source.name;
    this.version = init.version;
    this.alignment = init.alignment;
    this.dataOffset = init.dataOffset;
    this.headerEnd = init.headerEnd;
    this.metadata = init.metadata;
    this.metadataTypes = init.metadataTypes;
    this.tensors = init.tensors;
    this.#byName = new Map(init.tensors.map((t) => [t.name, t]));
  }

  tensor(name: string): GgufTensorInfo | undefined {
    return this.#byName.get(name);
  }

  async readTensor(name: string): Promise<Uint8Array> {
    const t = this.#byName.get(name);
    if (!t) throw new UserError(`${this.name}: no tensor named "${name}"`);
    return this.source.read(this.dataOffset + t.offset, t.byteLength);
  }

  /** `into` (length bytes), when given, may be filled and returned instead of a new array. */
  async readTensorRange(name: string, offset: number, length: number, into?: Uint8Array): Promise<Uint8Array> {
    const t = this.#byName.get(name);
    if (!t) throw new UserError(`${this.name}: no tensor named "${name}"`);
    if (!(offset >= 0 && length >= 0 && offset + length <= t.byteLength)) {
      throw new RangeError(`${this.name}: bytes ${offset}..${offset + length} are outside tensor "${name}" (${t.byteLength} bytes)`);
    }
    if (into && into.byteLength === length && this.source.readInto) {
      await this.source.readInto(this.dataOffset + t.offset + offset, into);
      return into;
    }
    return this.source.read(this.dataOffset + t.offset + offset, length);
  }

  async close(): Promise<void> {
    await this.source.close?.();
  }
}

/** Parses the header of a GGUF v2/v3 file. Throws GgufError for anything malformed. */
export async function readGguf(source: RandomAccessSource): Promise<GgufFile> {
  const c: Cursor = new Cursor(source);
  await c.fill(Math.min(24, c.size), "the header");
  if (c.size < 4) c.fail(0, `not a GGUF file: only ${c.size} bytes`);
  const magic = c.u32();
  if (magic !== GGUF_MAGIC) {
    const shown = [...c.buf.subarray(0, 4)].map((b) => (b >= 0x20 && b < 0x7f ? String.fromCharCode(b) : `\\x${b.toString(16).padStart(2, "0")}`)).join("");
    c.fail(0, `not a GGUF file: magic is "${shown}", expected "GGUF"`);
  }
  await c.fill(4, "the version");
  const version = c.u32();
  if (version === 1) c.fail(4, "GGUF version 1 is not supported (re-convert the model with a current llama.cpp)");
  if (version !== 2 && version !== 3) {
    const swapped = ((version & 0xff) << 24 | (version & 0xff00) << 8 | (version >>> 8) & 0xff00 | version >>> 24) >>> 0;
    if (swapped >= 1 && swapped <= 3) c.fail(4, "big-endian GGUF files are not supported");
    c.fail(4, `unknown GGUF version ${version} (supported: 2, 3)`);
  }
  await c.fill(16, "the tensor and metadata counts");
  const tensorCountAt = c.pos;
  const tensorCount = c.u64n();
  const kvCountAt = c.pos;
  const kvCount = c.u64n();
  // Minimum sizes: a metadata entry is ≥ 8 (key length) + 1 (key) + 4 (type) + 1 (value) bytes;
  // a tensor info ≥ 8 + 1 + 4 (n_dims) + 8 (one dim) + 4 (type) + 8 (offset).
  if (kvCount < 0 || kvCount * 14 > c.left) c.fail(kvCountAt, `metadata count ${kvCount < 0 ? "≥ 2^53" : kvCount} is more than the ${c.left} bytes left in the file can hold`);
  if (tensorCount < 0 || tensorCount * 33 > c.left) c.fail(tensorCountAt, `tensor count ${tensorCount < 0 ? "≥ 2^53" : tensorCount} is more than the ${c.left} bytes left in the file can hold`);

  const metadata = new Map<string, MetaValue>();
  const metadataTypes = new Map<string, GgufType>();
  let alignmentAt = 0;
  for (let k = 0; k < kvCount; k++) {
    const keyAt = c.pos;
    const key = await readString(c, `the key of metadata entry ${k}`, true);
    if (key.length === 0) c.fail(keyAt, `metadata entry ${k} has an empty key`);
    if (metadata.has(key)) c.fail(keyAt, `duplicate metadata key "${key}"`);
    if (!c.has(4)) await c.fill(4, `the type of metadata "${key}"`);
    const typeAt = c.pos;
    const type = c.u32();
    if (key === "general.alignment") alignmentAt = typeAt;
    const r = await readValue(c, type, `metadata "${key}"`, typeAt);
    metadata.set(key, r.value);
    metadataTypes.set(key, r.type);
  }

  let alignment = GGUF_DEFAULT_ALIGNMENT;
  if (metadata.has("general.alignment")) {
    const t = metadataTypes.get("general.alignment")!.type;
    const a = metadata.get("general.alignment");
    if (t !== GgufValueType.U32) c.fail(alignmentAt, `general.alignment has type ${ggufValueTypeName(t)}, expected u32`);
    if (typeof a !== "number" || a === 0 || (a & (a - 1)) !== 0) c.fail(alignmentAt, `general.alignment ${String(a)} is not a power of two`);
    alignment = a;
  }

  const tensors: GgufTensorInfo[] = [];
  const infoAt: number[] = [];
  const names = new Set<string>();
  for (let k = 0; k < tensorCount; k++) {
    const at = c.pos;
    const name = await readString(c, `the name of tensor ${k}`, true);
    if (name.length === 0) c.fail(at, `tensor ${k} has an empty name`);
    if (names.has(name)) c.fail(at, `duplicate tensor name "${name}"`);
    names.add(name);
    if (!c.has(4)) await c.fill(4, `tensor "${name}"`);
    const dimsAt = c.pos;
    const nDims = c.u32();
    if (nDims < 1 || nDims > MAX_DIMS) c.fail(dimsAt, `tensor "${name}" has ${nDims} dimensions (expected 1 to ${MAX_DIMS})`);
    await c.fill(nDims * 8 + 12, `tensor "${name}"`);
    const shape: number[] = [];
    let elements = 1;
    for (let d = 0; d < nDims; d++) {
      const dimAt = c.pos;
      const n = c.u64n();
      if (n <= 0) c.fail(dimAt, `tensor "${name}" dimension ${d} is ${n === 0 ? "0" : "negative or ≥ 2^53"}`);
      elements *= n;
      if (elements > Number.MAX_SAFE_INTEGER) c.fail(dimAt, `tensor "${name}" has more than 2^53 elements`);
      shape.push(n);
    }
    const typeAt = c.pos;
    const typeId = c.u32();
    const info = ggmlTypeInfo(typeId);
    if (!info) c.fail(typeAt, `tensor "${name}" has unknown GGML type ${typeId}`);
    const row = rowBytes(info, shape[0]!);
    if (row === undefined) c.fail(typeAt, `tensor "${name}" rows of ${shape[0]} elements are not a multiple of the ${info.name} block size ${info.blockSize}`);
    const byteLength = row * (elements / shape[0]!);
    if (byteLength > c.size) c.fail(dimsAt, `tensor "${name}" needs ${byteLength} bytes, more than the whole ${c.size}-byte file`);
    const offsetAt = c.pos;
    const offset = c.u64n();
    if (offset < 0 || offset > c.size) c.fail(offsetAt, `tensor "${name}" data offset ${offset < 0 ? "≥ 2^53" : offset} is beyond the end of the file`);
    if (offset % alignment !== 0) c.fail(offsetAt, `tensor "${name}" data offset ${offset} is not a multiple of the alignment ${alignment}`);
    tensors.push({ name, type: typeId as GgmlType, shape, elements, byteLength, offset });
    infoAt.push(offsetAt);
  }

  const headerEnd = c.pos;
  const dataOffset = Math.ceil(headerEnd / alignment) * alignment;
  const dataBytes = c.size - dataOffset;
  const order = tensors.map((_, i) => i).sort((a, b) => tensors[a]!.offset - tensors[b]!.offset);
  let prevEnd = 0;
  let prev = -1;
  for (const i of order) {
    const t = tensors[i]!;
    if (t.offset + t.byteLength > dataBytes) {
      c.fail(infoAt[i]!, `tensor "${t.name}" data [${dataOffset + t.offset}, ${dataOffset + t.offset + t.byteLength}) lies beyond the end of the ${c.size}-byte file`);
    }
    if (t.offset < prevEnd) c.fail(infoAt[i]!, `tensor "${t.name}" data overlaps tensor "${tensors[prev]!.name}"`);
    prevEnd = t.offset + t.byteLength;
    prev = i;
  }
  return new GgufFile({ source, version, alignment, dataOffset, headerEnd, metadata, metadataTypes, tensors });
}

// ---------------------------------------------------------------------------------------------
// Writer

export interface ByteSink {
  write(bytes: Uint8Array): Promise<void>;
}

export interface GgufWriteTensor {
  readonly name: string;
  readonly type: GgmlType;
  /** GGML order (shape[0] is the row length). */
  readonly shape: readonly number[];
  /** The tensor bytes, or a function producing them when the writer reaches this tensor. */
  readonly data: Uint8Array | (() => Uint8Array | Promise<Uint8Array>);
}

export interface GgufWriteInput {
  /** Keys in file order. */
  readonly metadata: ReadonlyMap<string, MetaValue>;
  /** Stored types; keys without one get `inferGgufType`. */
  readonly metadataTypes?: ReadonlyMap<string, GgufType>;
  readonly tensors: readonly GgufWriteTensor[];
}

/** A plain GGUF type for a value that has none recorded: integers as u32/i32 (u64/i64 if large), other numbers f32. */
export function inferGgufType(value: MetaValue): GgufType {
  if (typeof value === "string") return { type: GgufValueType.STRING };
  if (typeof value === "boolean") return { type: GgufValueType.BOOL };
  if (typeof value === "bigint") return { type: value < 0n ? GgufValueType.I64 : GgufValueType.U64 };
  if (typeof value === "number") {
    if (Number.isInteger(value)) {
      if (value >= 0 && value <= 0xffffffff) return { type: GgufValueType.U32 };
      if (value >= -0x80000000 && value < 0) return { type: GgufValueType.I32 };
      return { type: value < 0 ? GgufValueType.I64 : GgufValueType.U64 };
    }
    return { type: GgufValueType.F32 };
  }
  if (value.length === 0) return { type: GgufValueType.ARRAY, arrayType: GgufValueType.U32 };
  const first = inferGgufType(value[0]!);
  if (first.type === GgufValueType.ARRAY) {
    return { type: GgufValueType.ARRAY, arrayType: GgufValueType.ARRAY, elements: value.map(inferGgufType) };
  }
  let t = first.type;
  if (t === GgufValueType.U32 || t === GgufValueType.I32 || t === GgufValueType.F32) {
    // One element type must fit all elements.
    for (const v of value) {
      if (typeof v !== "number") break;
      if (!Number.isInteger(v)) { t = GgufValueType.F32; break; }
      if (v < 0 && t === GgufValueType.U32) t = GgufValueType.I32;
    }
  }
  return { type: GgufValueType.ARRAY, arrayType: t };
}

/** A growable little-endian byte buffer for the header. */
class ByteBuilder {
  buf = new Uint8Array(1 << 16);
  view = new DataView(this.buf.buffer);
  len = 0;
  readonly #enc = new TextEncoder();

  reserve(n: number): void {
    if (this.len + n <= this.buf.length) return;
    let cap = this.buf.length * 2;
    while (cap < this.len + n) cap *= 2;
    const next = new Uint8Array(cap);
    next.set(this.buf.subarray(0, this.len));
    this.buf = next;
    this.view = new DataView(next.buffer);
  }
  u32(v: number): void {
    this.reserve(4);
    this.view.setUint32(this.len, v, true);
    this.len += 4;
  }
  u64(v: number | bigint): void {
    this.reserve(8);
    this.view.setBigUint64(this.len, BigInt(v), true);
    this.len += 8;
  }
  string(s: string): void {
    // Reserve the worst case (3 bytes per UTF-16 unit), encode, then patch the length in.
    this.reserve(8 + s.length * 3);
    const at = this.len;
    const { written } = this.#enc.encodeInto(s, this.buf.subarray(at + 8));
    this.view.setBigUint64(at, BigInt(written), true);
    this.len = at + 8 + written;
  }
  zeros(n: number): void {
    this.reserve(n);
    this.buf.fill(0, this.len, this.len + n);
    this.len += n;
  }
  bytes(): Uint8Array {
    return this.buf.subarray(0, this.len);
  }
}

function writeScalar(b: ByteBuilder, type: GgufValueType, v: MetaValue, key: string): void {
  const bad = (): never => {
    throw new TypeError(`GGUF writer: metadata "${key}" value ${String(v)} does not fit type ${ggufValueTypeName(type)}`);
  };
  const n = fixedSize[type]!;
  b.reserve(n);
  const { view, len } = b;
  switch (type) {
    case GgufValueType.BOOL:
      if (typeof v !== "boolean") bad();
      view.setUint8(len, v ? 1 : 0);
      break;
    case GgufValueType.F32:
    case GgufValueType.F64:
      if (typeof v !== "number") bad();
      if (type === GgufValueType.F32) view.setFloat32(len, v as number, true);
      else view.setFloat64(len, v as number, true);
      break;
    case GgufValueType.U64:
    case GgufValueType.I64: {
      if (typeof v !== "bigint" && !(typeof v === "number" && Number.isInteger(v))) bad();
      const x = BigInt(v as number | bigint);
      if (type === GgufValueType.U64 ? x < 0n || x >= 1n << 64n : x < -(1n << 63n) || x >= 1n << 63n) bad();
      if (type === GgufValueType.U64) view.setBigUint64(len, x, true);
      else view.setBigInt64(len, x, true);
      break;
    }
    default: {
      if (typeof v !== "number" || !Number.isInteger(v)) bad();
      const x = v as number;
      const ok = {
        [GgufValueType.U8]: x >= 0 && x <= 0xff, [GgufValueType.I8]: x >= -0x80 && x < 0x80,
        [GgufValueType.U16]: x >= 0 && x <= 0xffff, [GgufValueType.I16]: x >= -0x8000 && x < 0x8000,
        [GgufValueType.U32]: x >= 0 && x <= 0xffffffff, [GgufValueType.I32]: x >= -0x80000000 && x < 0x80000000,
      }[type as 0 | 1 | 2 | 3 | 4 | 5];
      if (!ok) bad();
      if (type === GgufValueType.U8) view.setUint8(len, x);
      else if (type === GgufValueType.I8) view.setInt8(len, x);
      else if (type === GgufValueType.U16) view.setUint16(len, x, true);
      else if (type === GgufValueType.I16) view.setInt16(len, x, true);
      else if (type === GgufValueType.U32) view.setUint32(len, x, true);
      else view.setInt32(len, x, true);
    }
  }
  b.len += n;
}

function writeValue(b: ByteBuilder, t: GgufType, v: MetaValue, key: string): void {
  if (t.type === GgufValueType.STRING) {
    if (typeof v !== "string") throw new TypeError(`GGUF writer: metadata "${key}" is not a string`);
    b.string(v);
  } else if (t.type === GgufValueType.ARRAY) {
    if (!Array.isArray(v)) throw new TypeError(`GGUF writer: metadata "${key}" is not an array`);
    const et = t.arrayType ?? inferGgufType(v).arrayType!;
    b.u32(et);
    b.u64(v.length);
    for (let i = 0; i < v.length; i++) {
      const elem = et === GgufValueType.ARRAY ? (t.elements?.[i] ?? inferGgufType(v[i]!)) : { type: et };
      writeValue(b, elem, v[i]!, key);
    }
  } else {
    writeScalar(b, t.type, v, key);
  }
}

export function tensorByteLength(type: GgmlType, shape: readonly number[]): number {
  const info = ggmlTypeInfo(type);
  if (!info) throw new RangeError(`GGUF writer: unknown GGML type ${type}`);
  if (shape.length < 1 || shape.length > MAX_DIMS || shape.some((d) => !Number.isSafeInteger(d) || d <= 0)) {
    throw new RangeError(`GGUF writer: bad shape [${shape.join(", ")}]`);
  }
  const row = rowBytes(info, shape[0]!);
  if (row === undefined) throw new RangeError(`GGUF writer: row length ${shape[0]} is not a multiple of the ${info.name} block size`);
  return row * shape.slice(1).reduce((a, d) => a * d, 1);
}

/** The complete header (through the padding before tensor data) and each tensor's data offset. */
export function encodeGgufHeader(input: GgufWriteInput): { header: Uint8Array; offsets: number[]; alignment: number } {
  const alignment = input.metadata.has("general.alignment") ? Number(input.metadata.get("general.alignment")) : GGUF_DEFAULT_ALIGNMENT;
  if (!Number.isInteger(alignment) || alignment <= 0 || (alignment & (alignment - 1)) !== 0) {
    throw new RangeError(`GGUF writer: general.alignment ${alignment} is not a power of two`);
  }
  const b = new ByteBuilder();
  b.u32(GGUF_MAGIC);
  b.u32(3);
  b.u64(input.tensors.length);
  b.u64(input.metadata.size);
  for (const [key, value] of input.metadata) {
    const t = input.metadataTypes?.get(key) ?? inferGgufType(value);
    b.string(key);
    b.u32(t.type);
    writeValue(b, t, value, key);
  }
  const offsets: number[] = [];
  let offset = 0;
  const seen = new Set<string>();
  for (const t of input.tensors) {
    if (seen.has(t.name)) throw new RangeError(`GGUF writer: duplicate tensor name "${t.name}"`);
    seen.add(t.name);
    const bytes = tensorByteLength(t.type, t.shape);
    b.string(t.name);
    b.u32(t.shape.length);
    for (const d of t.shape) b.u64(d);
    b.u32(t.type);
    b.u64(offset);
    offsets.push(offset);
    offset += Math.ceil(bytes / alignment) * alignment;
  }
  b.zeros((alignment - (b.len % alignment)) % alignment);
  return { header: b.bytes(), offsets, alignment };
}

/**
 * Streams a GGUF v3 file to `sink`: the header in one write, then each tensor's bytes (produced
 * on demand) followed by its padding, so only one tensor is in memory at a time.
 */
export async function writeGguf(sink: ByteSink, input: GgufWriteInput): Promise<{ bytes: number }> {
  const { header, alignment } = encodeGgufHeader(input);
  await sink.write(header);
  let total = header.byteLength;
  const zeros = new Uint8Array(alignment);
  for (const t of input.tensors) {
    const expected = tensorByteLength(t.type, t.shape);
    const data = typeof t.data === "function" ? await t.data() : t.data;
    if (data.byteLength !== expected) {
      throw new RangeError(`GGUF writer: tensor "${t.name}" has ${data.byteLength} bytes, expected ${expected} for ${ggmlTypeName(t.type)} [${t.shape.join(", ")}]`);
    }
    await sink.write(data);
    const pad = (alignment - (expected % alignment)) % alignment;
    if (pad) await sink.write(zeros.subarray(0, pad));
    total += expected + pad;
  }
  return { bytes: total };
}

/** A sink collecting everything in memory (tests and small files). */
export class MemorySink implements ByteSink {
  readonly chunks: Uint8Array[] = [];
  async write(bytes: Uint8Array): Promise<void> {
    this.chunks.push(bytes.slice());
  }
  bytes(): Uint8Array {
    const out = new Uint8Array(this.chunks.reduce((n, c) => n + c.byteLength, 0));
    let o = 0;
    for (const c of this.chunks) {
      out.set(c, o);
      o += c.byteLength;
    }
    return out;
  }
}

/** Writer input reproducing a parsed file (its tensor data read lazily from the source). */
export function ggufWriteInputOf(file: ModelFile & { metadataTypes?: ReadonlyMap<string, GgufType> }): GgufWriteInput {
  return {
    metadata: file.metadata,
    metadataTypes: file.metadataTypes,
    tensors: file.tensors.map((t) => ({ name: t.name, type: t.type, shape: t.shape, data: () => file.readTensor(t.name) })),
  };
}
