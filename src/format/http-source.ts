// A model file behind a URL, read with HTTP range requests: the browser (or any fetch runtime)
// can open a multi-gigabyte GGUF without downloading it whole. Web-standard APIs only.

import { UserError } from "../errors.ts";
import { checkRange, type RandomAccessSource } from "./source.ts";

export interface HttpRangeSourceOptions {
  /** Replaces the global fetch (tests, auth headers). */
  readonly fetch?: typeof fetch;
  readonly headers?: Record<string, string>;
  readonly signal?: AbortSignal;
}

export class HttpRangeSource implements RandomAccessSource {
  readonly name: string;
  readonly size: number;
  readonly url: string;
  /** The validator the server gave (ETag, else Last-Modified): a cache key changes when the file does. */
  readonly version: string;
  readonly #fetch: typeof fetch;
  readonly #headers: Record<string, string>;
  readonly #signal: AbortSignal | undefined;

  private constructor(url: string, size: number, version: string, opts: HttpRangeSourceOptions) {
    this.url = url;
    this.name = url;
    this.size = size;
    this.version = version;
    this.#fetch = opts.fetch ?? ((input, init) => fetch(input, init));
    this.#headers = opts.headers ?? {};
    this.#signal = opts.signal;
  }

  /**
   * Asks for the first byte to learn the size and that ranges work: a HEAD would not prove the
   * server honours Range, and a server that ignores it would send the whole file to every read.
   */
  static async open(url: string, opts: HttpRangeSourceOptions = {}): Promise<HttpRangeSource> {
    const f = opts.fetch ?? ((input, init) => fetch(input, init));
    let res: Response;
    try {
      res = await f(url, { headers: { ...opts.headers, range: "bytes=0-0" }, signal: opts.signal });
    } catch (e) {
      if (opts.signal?.aborted) throw e;
      throw new UserError(`${url}: cannot fetch (${e instanceof Error ? e.message : String(e)})`);
    }
    void res.body?.cancel().catch(() => {});
    if (res.status !== 206) {
      if (!res.ok) throw new UserError(`${url}: HTTP ${res.status} ${res.statusText}`.trimEnd());
      throw new UserError(`${url}: the server does not support range requests (answered ${res.status} to 'Range: bytes=0-0')`);
    }
    const total = /\/(\d+)\s*$/.exec(res.headers.get("content-range") ?? "")?.[1];
    const size = total === undefined ? NaN : Number(total);
    if (!Number.isSafeInteger(size)) throw new UserError(`${url}: the server sent no usable Content-Range total`);
    const version = res.headers.get("etag") ?? res.headers.get("last-modified") ?? "";
    return new HttpRangeSource(res.url || url, size, version, opts);
  }

  async read(offset: number, length: number): Promise<Uint8Array> {
    checkRange(this, offset, length);
    if (length === 0) return new Uint8Array(0);
    const headers: Record<string, string> = { ...this.#headers, range: `bytes=${offset}-${offset + length - 1}` };
    // A file that changed on the server must not be stitched together from two versions.
    if (this.version) headers["if-range"] = this.version;
    const res = await this.#fetch(this.url, { headers, signal: this.#signal });
    if (res.status !== 206) {
      void res.body?.cancel().catch(() => {});
      throw new UserError(`${this.url}: range read at ${offset} answered HTTP ${res.status} (the file changed on the server?)`);
    }
    const bytes = new Uint8Array(await res.arrayBuffer());
    if (bytes.byteLength !== length) {
      throw new UserError(`${this.url}: asked for ${length} bytes at ${offset}, got ${bytes.byteLength}`);
    }
    return bytes;
  }
}
