// RandomAccessSource over a Node file handle: model files are read range by range, never whole.

import { open } from "node:fs/promises";
import type { FileHandle } from "node:fs/promises";
import { checkRange } from "../format/source.ts";
import type { RandomAccessSource } from "../format/source.ts";

export class FileSource implements RandomAccessSource {
  readonly name: string;
  readonly size: number;
  readonly #handle: FileHandle;
  #closed = false;

  private constructor(name: string, handle: FileHandle, size: number) {
    this.name = name;
    this.#handle = handle;
    this.size = size;
  }

  static async open(path: string): Promise<FileSource> {
    const handle = await open(path, "r");
    try {
      const st = await handle.stat();
      return new FileSource(path, handle, st.size);
    } catch (e) {
      await handle.close();
      throw e;
    }
  }

  async read(offset: number, length: number): Promise<Uint8Array> {
    const out = new Uint8Array(length);
    await this.readInto(offset, out);
    return out;
  }

  async readInto(offset: number, out: Uint8Array): Promise<void> {
    const length = out.byteLength;
    checkRange(this, offset, length);
    let done = 0;
    // A single read may return fewer bytes than asked (large ranges, some file systems).
    while (done < length) {
      const { bytesRead } = await this.#handle.read(out, done, length - done, offset + done);
      if (bytesRead === 0) throw new Error(`${this.name}: unexpected end of file at offset ${offset + done} (file changed while open?)`);
      done += bytesRead;
    }
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    await this.#handle.close();
  }
}
