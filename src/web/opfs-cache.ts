// Downloaded models kept in the Origin Private File System, so a second visit reads them from
// disk instead of the network. The download goes by range requests in pieces written at their
// offsets, with the count of bytes written kept beside the file: an interrupted download resumes,
// and a file that changed on the server (other size or validator) starts over.

import { BlobSource, type RandomAccessSource } from "../format/source.ts";
import { HttpRangeSource } from "../format/http-source.ts";
import type { ModelOrigin, Progress } from "./protocol.ts";

const DIR = "llamats-models";
/** Bytes per range request while downloading. */
const PIECE = 8 << 20;

interface Meta {
  url: string;
  size: number;
  version: string;
  have: number;
}

// Sync access handles exist only in dedicated workers; the DOM typings do not carry them.
interface SyncHandle {
  read(buffer: Uint8Array, opts?: { at: number }): number;
  write(buffer: Uint8Array, opts?: { at: number }): number;
  truncate(size: number): void;
  getSize(): number;
  flush(): void;
  close(): void;
}
type SyncFileHandle = FileSystemFileHandle & { createSyncAccessHandle(): Promise<SyncHandle> };

export interface OpenedUrl {
  readonly source: RandomAccessSource;
  readonly origin: ModelOrigin;
}

export interface OpenUrlOptions {
  readonly cache?: boolean;
  readonly signal?: AbortSignal;
  readonly onProgress?: (p: Progress) => void;
}

/** A stable file name for a URL: its last segment (readable) plus a hash of the whole URL. */
export function cacheKey(url: string): string {
  let h = 0x811c9dc5;
  for (let i = 0; i < url.length; i++) h = Math.imul(h ^ url.charCodeAt(i), 0x01000193);
  const tail = (new URL(url).pathname.split("/").pop() || "model").replace(/[^A-Za-z0-9._-]/g, "_").slice(-60);
  return `${(h >>> 0).toString(16).padStart(8, "0")}-${tail}`;
}

async function cacheDir(): Promise<FileSystemDirectoryHandle | undefined> {
  try {
    const root = await navigator.storage.getDirectory();
    return await root.getDirectoryHandle(DIR, { create: true });
  } catch {
    return undefined;
  }
}

const enc = new TextEncoder();
const dec = new TextDecoder();

function readMeta(h: SyncHandle): Meta | undefined {
  const n = h.getSize();
  if (n === 0 || n > 65536) return undefined;
  const buf = new Uint8Array(n);
  h.read(buf, { at: 0 });
  try {
    return JSON.parse(dec.decode(buf)) as Meta;
  } catch {
    return undefined;
  }
}

function writeMeta(h: SyncHandle, m: Meta): void {
  const bytes = enc.encode(JSON.stringify(m));
  h.truncate(0);
  h.write(bytes, { at: 0 });
  h.flush();
}

/** Opens a model URL: from the OPFS copy when complete, else downloading into it, else by ranges. */
export async function openUrl(url: string, opts: OpenUrlOptions = {}): Promise<OpenedUrl> {
  const absolute = new URL(url, location.href).href;
  const dir = opts.cache === false ? undefined : await cacheDir();
  const key = cacheKey(absolute);
  let remote: HttpRangeSource;
  try {
    remote = await HttpRangeSource.open(absolute, { signal: opts.signal });
  } catch (e) {
    // Offline, or the server is gone: a complete copy is still good.
    const cached = dir && (await completeCopy(dir, key, absolute));
    if (cached) return { source: cached, origin: "cache" };
    throw e;
  }
  if (!dir || !(await roomFor(remote.size))) return { source: remote, origin: "range" };

  const dataHandle = (await dir.getFileHandle(`${key}.gguf`, { create: true })) as SyncFileHandle;
  const metaHandle = (await dir.getFileHandle(`${key}.json`, { create: true })) as SyncFileHandle;
  let data: SyncHandle | undefined;
  let meta: SyncHandle | undefined;
  try {
    // Another tab downloading the same model holds these handles; fall back to plain ranges.
    meta = await metaHandle.createSyncAccessHandle();
    data = await dataHandle.createSyncAccessHandle();
  } catch {
    meta?.close();
    return { source: remote, origin: "range" };
  }
  let origin: ModelOrigin = "cache";
  try {
    const old = readMeta(meta);
    const same = old && old.url === absolute && old.size === remote.size && old.version === remote.version;
    let have = same ? Math.min(old.have, data.getSize()) : 0;
    if (!same) data.truncate(0);
    if (have < remote.size) {
      origin = "network";
      const m: Meta = { url: absolute, size: remote.size, version: remote.version, have };
      writeMeta(meta, m);
      while (have < remote.size) {
        opts.signal?.throwIfAborted();
        const n = Math.min(PIECE, remote.size - have);
        const bytes = await remote.read(have, n);
        data.write(bytes, { at: have });
        have += n;
        data.flush();
        m.have = have;
        writeMeta(meta, m);
        opts.onProgress?.({ phase: "download", done: have, total: remote.size });
      }
    }
  } finally {
    data.close();
    meta.close();
  }
  const file = await dataHandle.getFile();
  return { source: new BlobSource(file, absolute), origin };
}

async function completeCopy(dir: FileSystemDirectoryHandle, key: string, url: string): Promise<RandomAccessSource | undefined> {
  try {
    const metaFile = await (await dir.getFileHandle(`${key}.json`)).getFile();
    const m = JSON.parse(await metaFile.text()) as Meta;
    const file = await (await dir.getFileHandle(`${key}.gguf`)).getFile();
    if (m.url !== url || m.have !== m.size || file.size !== m.size) return undefined;
    return new BlobSource(file, url);
  } catch {
    return undefined;
  }
}

async function roomFor(bytes: number): Promise<boolean> {
  try {
    const { quota, usage } = await navigator.storage.estimate();
    return quota === undefined || usage === undefined || quota - usage > bytes;
  } catch {
    return true;
  }
}

/** Deletes every cached model; returns how many files went. */
export async function clearCache(): Promise<number> {
  const root = await navigator.storage.getDirectory();
  let n = 0;
  try {
    const dir = await root.getDirectoryHandle(DIR);
    for await (const name of (dir as unknown as { keys(): AsyncIterable<string> }).keys()) {
      n++;
      void name;
    }
    await root.removeEntry(DIR, { recursive: true });
  } catch {
    // Nothing cached yet.
  }
  return n;
}
