// Serving a random-access source over HTTP with Range support (RFC 9110 §14): what lets a browser
// open the server's model file with HttpRangeSource, or download it in resumable pieces.

import type { RandomAccessSource } from "../format/source.ts";

/** Bytes read from the source per body chunk of a long response. */
const CHUNK = 1 << 20;

export type ByteRange = { start: number; end: number } | "unsatisfiable" | undefined;

/**
 * One `bytes=` range of a `size`-byte body, end inclusive. undefined: no usable Range (serve it
 * all; several ranges are also answered whole, which the RFC allows).
 */
export function parseRange(header: string | null, size: number): ByteRange {
  if (!header) return undefined;
  const m = /^\s*bytes\s*=\s*(\d*)\s*-\s*(\d*)\s*$/i.exec(header);
  if (!m) return undefined;
  const [, a, b] = m;
  if (a === "" && b === "") return undefined;
  if (a === "") {
    const n = Number(b);
    if (n === 0) return "unsatisfiable";
    return { start: Math.max(0, size - n), end: size - 1 };
  }
  const start = Number(a);
  if (!Number.isSafeInteger(start)) return "unsatisfiable";
  const end = b === "" ? size - 1 : Math.min(Number(b), size - 1);
  if (b !== "" && Number(b) < start) return undefined;
  if (start >= size) return "unsatisfiable";
  return { start, end };
}

function bodyOf(source: RandomAccessSource, start: number, end: number): ReadableStream<Uint8Array> {
  let at = start;
  return new ReadableStream<Uint8Array>({
    async pull(controller) {
      if (at > end) {
        controller.close();
        return;
      }
      const n = Math.min(CHUNK, end + 1 - at);
      const bytes = await source.read(at, n);
      at += n;
      controller.enqueue(bytes);
    },
  }, { highWaterMark: 0 });
}

export interface RangeResponseOptions {
  readonly contentType?: string;
  /** A strong validator of the content; If-Range compares against it. */
  readonly etag?: string;
  readonly headers?: Record<string, string>;
}

export function rangeResponse(request: Request, source: RandomAccessSource, opts: RangeResponseOptions = {}): Response {
  const size = source.size;
  const headers = new Headers(opts.headers);
  headers.set("accept-ranges", "bytes");
  headers.set("content-type", opts.contentType ?? "application/octet-stream");
  if (opts.etag) headers.set("etag", opts.etag);
  const head = request.method === "HEAD";
  const ifRange = request.headers.get("if-range");
  // A client holding pieces of another version gets the whole new file instead of a mixed one.
  const fresh = ifRange === null || (opts.etag !== undefined && ifRange === opts.etag);
  const range = fresh ? parseRange(request.headers.get("range"), size) : undefined;
  if (range === "unsatisfiable") {
    headers.set("content-range", `bytes */${size}`);
    return new Response(null, { status: 416, headers });
  }
  const start = range?.start ?? 0;
  const end = range?.end ?? size - 1;
  headers.set("content-length", String(Math.max(0, end + 1 - start)));
  if (range) headers.set("content-range", `bytes ${start}-${end}/${size}`);
  const body = head || end < start ? null : bodyOf(source, start, end);
  return new Response(body, { status: range ? 206 : 200, headers });
}

/** A cheap content fingerprint (size + FNV-1a of the first and last 64 KiB) for an ETag. */
export async function sourceEtag(source: RandomAccessSource): Promise<string> {
  const span = Math.min(65536, source.size);
  const head = await source.read(0, span);
  const tail = await source.read(source.size - span, span);
  let h = 0x811c9dc5;
  for (const part of [head, tail]) {
    for (let i = 0; i < part.length; i++) h = Math.imul(h ^ part[i]!, 0x01000193);
  }
  return `"${source.size.toString(16)}-${(h >>> 0).toString(16)}"`;
}
