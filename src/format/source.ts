// Random-access byte sources. Model files are 1–50 GB, so readers never load a whole file: they
// ask for ranges. Core implementations here use only web-standard APIs; the Node file-handle
// source lives in src/node/.

export interface RandomAccessSource {
  /** A name for error messages (file path, URL, or File name). */
  readonly name: string;
  /** Total size in bytes. */
  readonly size: number;
  /**
   * Bytes [offset, offset + length). Implementations throw if the range is outside the source;
   * callers check ranges against `size` first so that they can report a format error instead.
   */
  read(offset: number, length: number): Promise<Uint8Array>;
  /** Optional: fill `dest` with bytes [offset, offset + dest.length) instead of allocating. */
  readInto?(offset: number, dest: Uint8Array): Promise<void>;
  close?(): Promise<void>;
}

/** A source over bytes already in memory (tests, small files, fetched buffers). */
export class BytesSource implements RandomAccessSource {
  readonly size: number;
  readonly name: string;
  readonly bytes: Uint8Array;
  constructor(bytes: Uint8Array, name = "<memory>") {
    this.bytes = bytes;
    this.name = name;
    this.size = bytes.byteLength;
  }
  async read(offset: number, length: number): Promise<Uint8Array> {
    checkRange(this, offset, length);
    return this.bytes.subarray(offset, offset + length);
  }
}

/** A source over a `Blob` or `File` (browser file picker, OPFS). Reads slices, never the whole blob. */
export class BlobSource implements RandomAccessSource {
  readonly size: number;
  readonly name: string;
  readonly blob: Blob;
  constructor(blob: Blob, name?: string) {
    this.blob = blob;
    this.size = blob.size;
    this.name = name ?? ((blob as File).name || "<blob>");
  }
  async read(offset: number, length: number): Promise<Uint8Array> {
    checkRange(this, offset, length);
    if (length <= BLOB_PIECE) return new Uint8Array(await this.blob.slice(offset, offset + length).arrayBuffer());
    // Big tensors arrive piece by piece: browsers refuse (or double the memory of) one huge slice.
    const out = new Uint8Array(length);
    for (let at = 0; at < length; at += BLOB_PIECE) {
      const end = Math.min(length, at + BLOB_PIECE);
      out.set(new Uint8Array(await this.blob.slice(offset + at, offset + end).arrayBuffer()), at);
    }
    return out;
  }
}

/** Largest single Blob slice read at once. */
const BLOB_PIECE = 64 << 20;

export function checkRange(src: RandomAccessSource, offset: number, length: number): void {
  if (!Number.isSafeInteger(offset) || !Number.isSafeInteger(length) || offset < 0 || length < 0 || offset + length > src.size) {
    throw new RangeError(`${src.name}: read of ${length} bytes at offset ${offset} is outside the ${src.size}-byte source`);
  }
}
