// A binary min-heap of float64 keys. Both merge loops pack (priority, left position) into one
// key, priority × 2^32 + left, so a single number compares exactly like llama.cpp's
// (rank, left) comparators and the heap needs no objects.

export const KEY_SHIFT = 2 ** 32;

export class KeyHeap {
  #keys = new Float64Array(64);
  #size = 0;

  get size(): number {
    return this.#size;
  }

  clear(): void {
    this.#size = 0;
  }

  push(key: number): void {
    if (this.#size === this.#keys.length) {
      const grown = new Float64Array(this.#keys.length * 2);
      grown.set(this.#keys);
      this.#keys = grown;
    }
    const keys = this.#keys;
    let i = this.#size++;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      const p = keys[parent]!;
      if (p <= key) break;
      keys[i] = p;
      i = parent;
    }
    keys[i] = key;
  }

  /** Removes and returns the smallest key. The heap must not be empty. */
  pop(): number {
    const keys = this.#keys;
    const top = keys[0]!;
    const n = --this.#size;
    if (n > 0) {
      const last = keys[n]!;
      let i = 0;
      for (;;) {
        let child = 2 * i + 1;
        if (child >= n) break;
        const right = child + 1;
        if (right < n && keys[right]! < keys[child]!) child = right;
        if (keys[child]! >= last) break;
        keys[i] = keys[child]!;
        i = child;
      }
      keys[i] = last;
    }
    return top;
  }
}
