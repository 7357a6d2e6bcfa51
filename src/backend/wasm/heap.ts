// A first-fit allocator with coalescing over one shared wasm memory (one per shard). Weights are allocated once at
// load and scratch buffers are reused, so it is not on the token path; it only has to be correct
// and not fragment badly.

import { UserError } from "../../errors.ts";
import { HEAP_BASE, MAX_PAGES } from "./abi.ts";

const ALIGN = 64;

const fmtBytes = (n: number) => (n >= 2 ** 30 ? `${+(n / 2 ** 30).toFixed(2)} GiB` : `${(n / 2 ** 20).toFixed(0)} MiB`);
const PAGE = 65536;

export class Heap {
  readonly memory: WebAssembly.Memory;
  /** Free ranges [start, end), sorted by start, never adjacent. */
  private free: { start: number; end: number }[] = [];
  private sizes = new Map<number, number>();
  private top = HEAP_BASE;
  /** Ceiling of this memory in pages (a shard's memory may be declared smaller than 4 GiB). */
  readonly maxPages: number;
  onGrow: () => void = () => {};

  constructor(memory: WebAssembly.Memory, maxPages = MAX_PAGES) {
    this.memory = memory;
    this.maxPages = maxPages;
  }

  get bytesInUse(): number {
    let n = 0;
    for (const s of this.sizes.values()) n += s;
    return n;
  }

  alloc(bytes: number): number {
    const size = Math.max(ALIGN, Math.ceil(bytes / ALIGN) * ALIGN);
    for (let i = 0; i < this.free.length; i++) {
      const f = this.free[i]!;
      if (f.end - f.start >= size) {
        const p = f.start;
        f.start += size;
        if (f.start === f.end) this.free.splice(i, 1);
        this.sizes.set(p, size);
        return p;
      }
    }
    const p = this.top;
    const end = p + size;
    if (end > this.maxPages * PAGE) {
      throw new UserError(
        `the wasm backend ran out of a 32-bit WebAssembly memory (${fmtBytes(this.maxPages * PAGE)}) ` +
          `by ${fmtBytes(end - this.maxPages * PAGE)}: activations, KV cache and scratch share one memory ` +
          `(weights are spread over several); use a smaller context or batch`,
      );
    }
    const have = this.memory.buffer.byteLength;
    if (end > have) {
      // Grow by at least 1/8 of the current size to keep the number of grows (and view refreshes) low.
      const need = Math.ceil((end - have) / PAGE);
      const pages = Math.min(this.maxPages - have / PAGE, Math.max(need, Math.ceil(have / PAGE / 8)));
      this.memory.grow(pages);
      this.onGrow();
    }
    this.top = end;
    this.sizes.set(p, size);
    return p;
  }

  release(p: number): void {
    const size = this.sizes.get(p);
    if (size === undefined) throw new Error(`wasm heap: free of unknown pointer ${p}`);
    this.sizes.delete(p);
    let start = p, end = p + size;
    // Insert sorted, merging neighbours; a range touching the top is returned to it.
    let i = 0;
    while (i < this.free.length && this.free[i]!.start < start) i++;
    const prev = this.free[i - 1], next = this.free[i];
    if (prev && prev.end === start) { start = prev.start; this.free.splice(--i, 1); }
    if (next && next.start === end) { end = next.end; this.free.splice(i, 1); }
    if (end === this.top) this.top = start;
    else this.free.splice(i, 0, { start, end });
  }
}
