// ByteSink writing to a file, for `quantize`/`convert` outputs that must never sit in memory whole.

import { open } from "node:fs/promises";
import type { FileHandle } from "node:fs/promises";
import type { ByteSink } from "../format/gguf.ts";

export class FileSink implements ByteSink {
  readonly path: string;
  readonly #handle: FileHandle;
  #position = 0;

  private constructor(path: string, handle: FileHandle) {
    this.path = path;
    this.#handle = handle;
  }

  /** Creates or truncates `path`. */
  static async create(path: string): Promise<FileSink> {
    return new FileSink(path, await open(path, "w"));
  }

  get bytesWritten(): number {
    return this.#position;
  }

  async write(bytes: Uint8Array): Promise<void> {
    let done = 0;
    while (done < bytes.byteLength) {
      const { bytesWritten } = await this.#handle.write(bytes, done, bytes.byteLength - done, this.#position);
      done += bytesWritten;
      this.#position += bytesWritten;
    }
  }

  async close(): Promise<void> {
    await this.#handle.close();
  }
}
