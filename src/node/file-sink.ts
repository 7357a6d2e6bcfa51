// ByteSink writing to a file, for `quantize`/`convert` outputs that must never sit in memory whole.

import { open } from "node:fs/promises";
import type { FileHandle } from "node:fs/promises";
import { rm } from "node:fs/promises";
import { UserError } from "../errors.ts";
import { writeGguf, type ByteSink, type GgufWriteInput } from "../format/gguf.ts";

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

/** Write a GGUF file; a failed write leaves no partial file behind. */
export async function writeGgufFile(path: string, input: GgufWriteInput): Promise<{ bytes: number }> {
  const sink = await FileSink.create(path).catch((e: NodeJS.ErrnoException) => {
    throw new UserError(`${path}: cannot create (${e.code ?? e.message})`);
  });
  try {
    const written = await writeGguf(sink, input);
    await sink.close();
    return written;
  } catch (e) {
    await sink.close().catch(() => {});
    await rm(path, { force: true });
    throw e;
  }
}
