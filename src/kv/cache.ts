// The KV cache: one K and one V buffer per layer, divided into cells of one token each. A
// sequence is the ordered list of cells holding its tokens (a token's position is its index in
// that list). Cells are reference-counted so sequences can share a prefix without copying.

import { UserError } from "../errors.ts";
import type { AttentionSpan, Backend, Buf } from "../backend/types.ts";
import type { KvStore } from "../model/llama.ts";

export interface KvCacheOptions {
  readonly nLayers: number;
  readonly nCells: number;
  /** Values per cell per layer: nKvHeads × headDim. */
  readonly width: number;
  readonly dtype: "f32" | "f16";
}

/** Where a batch's tokens go in the cache and what each of them attends to. */
export interface Placement {
  readonly cells: Int32Array;
  readonly positions: Int32Array;
  readonly span: AttentionSpan;
}

export class KvCache implements KvStore {
  readonly k: readonly Buf[];
  readonly v: readonly Buf[];
  readonly nCells: number;
  readonly width: number;
  private readonly backend: Backend;
  private readonly refs: Uint16Array;
  private readonly freeCells: number[];
  private readonly seqs = new Map<number, number[]>();

  constructor(backend: Backend, opts: KvCacheOptions) {
    this.backend = backend;
    this.nCells = opts.nCells;
    this.width = opts.width;
    const n = opts.nCells * opts.width;
    this.k = Array.from({ length: opts.nLayers }, () => backend.alloc(n, opts.dtype));
    this.v = Array.from({ length: opts.nLayers }, () => backend.alloc(n, opts.dtype));
    this.refs = new Uint16Array(opts.nCells);
    // Lowest cells first, so a single sequence occupies a contiguous run.
    this.freeCells = Array.from({ length: opts.nCells }, (_, i) => opts.nCells - 1 - i);
  }

  /** Number of tokens the sequence holds (its next position). */
  length(seq: number): number {
    return this.seqs.get(seq)?.length ?? 0;
  }

  get usedCells(): number {
    return this.nCells - this.freeCells.length;
  }

  get freeCellCount(): number {
    return this.freeCells.length;
  }

  /**
   * Append one cell per token to the token's sequence (tokens of a sequence in order) and say
   * which cells each token sees. Throws when the cache cannot hold the batch; nothing changes then.
   */
  place(seqIds: Int32Array): Placement {
    if (seqIds.length > this.freeCells.length) {
      throw new UserError(`the context is full: ${seqIds.length} more tokens do not fit in ${this.nCells} cells (${this.freeCells.length} free)`);
    }
    const n = seqIds.length;
    const cells = new Int32Array(n);
    const positions = new Int32Array(n);
    for (let t = 0; t < n; t++) {
      const seq = seqIds[t]!;
      let list = this.seqs.get(seq);
      if (!list) this.seqs.set(seq, (list = []));
      const cell = this.freeCells.pop()!;
      this.refs[cell] = 1;
      positions[t] = list.length;
      list.push(cell);
      cells[t] = cell;
    }
    // Each involved sequence's full cell list once; its tokens see a prefix of it.
    const offsets = new Map<number, number>();
    let total = 0;
    for (const seq of seqIds) {
      if (!offsets.has(seq)) {
        offsets.set(seq, total);
        total += this.seqs.get(seq)!.length;
      }
    }
    const spanCells = new Int32Array(total);
    for (const [seq, off] of offsets) spanCells.set(this.seqs.get(seq)!, off);
    const start = new Int32Array(n);
    const count = new Int32Array(n);
    for (let t = 0; t < n; t++) {
      start[t] = offsets.get(seqIds[t]!)!;
      count[t] = positions[t]! + 1;
    }
    return { cells, positions, span: { cells: spanCells, start, count } };
  }

  /** Keep the first `length` tokens of a sequence; free the rest. */
  truncate(seq: number, length: number): void {
    const list = this.seqs.get(seq);
    if (!list || length >= list.length) return;
    for (const cell of list.splice(Math.max(0, length))) this.release(cell);
    if (list.length === 0) this.seqs.delete(seq);
  }

  remove(seq: number): void {
    this.truncate(seq, 0);
  }

  /** Make `dst` share the first `length` tokens of `src` (no copy: cells are shared). */
  copy(src: number, dst: number, length = this.length(src)): void {
    if (src === dst) return;
    this.remove(dst);
    const list = (this.seqs.get(src) ?? []).slice(0, length);
    for (const cell of list) this.refs[cell]!++;
    if (list.length > 0) this.seqs.set(dst, list);
  }

  /** Distinct cells held by these sequences (shared cells count once). */
  cellsOf(seqs: Iterable<number>): number {
    const seen = new Set<number>();
    for (const seq of seqs) for (const cell of this.seqs.get(seq) ?? []) seen.add(cell);
    return seen.size;
  }

  clear(): void {
    for (const seq of [...this.seqs.keys()]) this.remove(seq);
  }

  dispose(): void {
    for (const b of [...this.k, ...this.v]) this.backend.free(b);
  }

  private release(cell: number): void {
    if (--this.refs[cell]! === 0) this.freeCells.push(cell);
  }
}
