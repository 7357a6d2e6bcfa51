// Adjacent-symbol merge table: (left id, right id) → (priority, merged id), in open addressing
// over typed arrays. Symbol ids are small integers, so this beats string-keyed maps by a wide
// margin on the encode hot path.

export class PairTable {
  #left: Int32Array;
  #right: Int32Array;
  #priority: Int32Array;
  #merged: Int32Array;
  #mask: number;
  #count = 0;

  /** Capacity for a load factor of at most 0.6: probe runs stay short without reserving 2×. */
  constructor(expected: number) {
    let cap = 16;
    while (cap * 0.6 < expected) cap *= 2;
    this.#left = new Int32Array(cap).fill(-1);
    this.#right = new Int32Array(cap);
    this.#priority = new Int32Array(cap);
    this.#merged = new Int32Array(cap);
    this.#mask = cap - 1;
  }

  get count(): number {
    return this.#count;
  }

  static #hash(a: number, b: number): number {
    let h = Math.imul(a, 0x9e3779b1) ^ Math.imul(b + 0x7f4a7c15, 0x85ebca77);
    h ^= h >>> 15;
    return h;
  }

  /** Adds a pair unless it is already present (the first entry wins, as in llama.cpp). */
  add(a: number, b: number, priority: number, merged: number): void {
    if (this.#count >= this.#mask * 0.6) this.#grow();
    const mask = this.#mask;
    let i = PairTable.#hash(a, b) & mask;
    for (;;) {
      const l = this.#left[i]!;
      if (l === -1) break;
      if (l === a && this.#right[i] === b) return;
      i = (i + 1) & mask;
    }
    this.#left[i] = a;
    this.#right[i] = b;
    this.#priority[i] = priority;
    this.#merged[i] = merged;
    this.#count++;
  }

  /** Slot of the pair, or -1. Read it with priorityAt / mergedAt. */
  find(a: number, b: number): number {
    if (a < 0 || b < 0) return -1;
    const mask = this.#mask;
    const left = this.#left;
    let i = PairTable.#hash(a, b) & mask;
    for (;;) {
      const l = left[i]!;
      if (l === -1) return -1;
      if (l === a && this.#right[i] === b) return i;
      i = (i + 1) & mask;
    }
  }

  priorityAt(slot: number): number {
    return this.#priority[slot]!;
  }

  mergedAt(slot: number): number {
    return this.#merged[slot]!;
  }

  #grow(): void {
    const old = { l: this.#left, r: this.#right, p: this.#priority, m: this.#merged };
    const cap = old.l.length * 2;
    this.#left = new Int32Array(cap).fill(-1);
    this.#right = new Int32Array(cap);
    this.#priority = new Int32Array(cap);
    this.#merged = new Int32Array(cap);
    this.#mask = cap - 1;
    this.#count = 0;
    for (let i = 0; i < old.l.length; i++) {
      if (old.l[i] !== -1) this.add(old.l[i]!, old.r[i]!, old.p[i]!, old.m[i]!);
    }
  }
}
