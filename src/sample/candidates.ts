// The candidate list the samplers work on: parallel arrays of token id, logit and probability,
// of which the first `size` entries are live, like llama.cpp's llama_token_data_array. The
// buffers are sized to the vocabulary once and reused for every token.

export class Candidates {
  ids: Int32Array;
  logits: Float32Array;
  probs: Float32Array;
  size = 0;
  /** True when the live entries are in descending logit order. */
  sorted = false;
  private order: Int32Array;
  private chosen: Uint8Array;
  private tmpIds: Int32Array;
  private tmpLogits: Float32Array;
  private tmpProbs: Float32Array;

  constructor(capacity: number) {
    this.ids = new Int32Array(capacity);
    this.logits = new Float32Array(capacity);
    this.probs = new Float32Array(capacity);
    this.order = new Int32Array(capacity);
    this.chosen = new Uint8Array(capacity);
    this.tmpIds = new Int32Array(capacity);
    this.tmpLogits = new Float32Array(capacity);
    this.tmpProbs = new Float32Array(capacity);
  }

  get capacity(): number {
    return this.ids.length;
  }

  /** Start from a full logit vector, entry i being token i. */
  load(logits: ArrayLike<number>): void {
    const n = logits.length;
    for (let i = 0; i < n; i++) {
      this.ids[i] = i;
      this.logits[i] = logits[i]!;
    }
    this.size = n;
    this.sorted = false;
  }

  /** Entry a ranks above entry b: higher logit, ties to the lower id (a fixed order on every machine). */
  private above(a: number, b: number): boolean {
    const la = this.logits[a]!;
    const lb = this.logits[b]!;
    return la > lb || (la === lb && this.ids[a]! < this.ids[b]!);
  }

  /**
   * Moves the k best entries to the front in descending order and keeps only them. Partial
   * selection through a k-entry heap: O(n log k), no sort of the whole vocabulary.
   */
  keepTop(k: number): void {
    k = this.selectTop(k);
    this.gather(this.order, k);
    this.sorted = true;
  }

  /**
   * Moves the m best entries to the front in descending order, keeping the rest after them in
   * their order (for top-p, which rarely needs more than a few hundred sorted entries).
   */
  sortPrefix(m: number): void {
    const n = this.size;
    m = this.selectTop(m);
    const chosen = this.chosen;
    for (let j = 0; j < m; j++) chosen[this.order[j]!] = 1;
    let w = m;
    for (let i = 0; i < n; i++) {
      if (chosen[i]) chosen[i] = 0;
      else this.order[w++] = i;
    }
    this.gather(this.order, n);
    this.sorted = m >= n;
  }

  // Fills order[0..k) with the positions of the k best entries, best first; returns k.
  private selectTop(k: number): number {
    const n = this.size;
    if (k >= n) k = n;
    if (k <= 0) return 0;
    const heap = this.order; // a min-heap on `above`: the root is the worst of the kept
    let len = 0;
    const siftUp = (i: number) => {
      while (i > 0) {
        const parent = (i - 1) >> 1;
        if (!this.above(heap[parent]!, heap[i]!)) break;
        const t = heap[parent]!;
        heap[parent] = heap[i]!;
        heap[i] = t;
        i = parent;
      }
    };
    const siftDown = (i: number) => {
      for (;;) {
        const l = 2 * i + 1;
        if (l >= len) break;
        const r = l + 1;
        let worst = l;
        if (r < len && this.above(heap[l]!, heap[r]!)) worst = r;
        if (!this.above(heap[i]!, heap[worst]!)) break;
        const t = heap[worst]!;
        heap[worst] = heap[i]!;
        heap[i] = t;
        i = worst;
      }
    };
    for (let i = 0; i < n; i++) {
      if (len < k) {
        heap[len++] = i;
        siftUp(len - 1);
      } else if (this.above(i, heap[0]!)) {
        heap[0] = i;
        siftDown(0);
      }
    }
    heap.subarray(0, k).sort((a, b) => (this.above(a, b) ? -1 : this.above(b, a) ? 1 : 0));
    return k;
  }

  /** Sorts all live entries in descending order. */
  sortAll(): void {
    if (this.sorted) return;
    this.keepTop(this.size);
  }

  /** Keeps the first `n` live entries. */
  truncate(n: number): void {
    if (n < this.size) this.size = n;
  }

  /** Reorders the live entries by `key` ascending (ties keep their order) and keeps the first `keep`. */
  reorderBy(key: Float32Array, keep: number): void {
    const n = this.size;
    const order = this.order;
    for (let i = 0; i < n; i++) order[i] = i;
    order.subarray(0, n).sort((a, b) => key[a]! - key[b]! || a - b);
    this.gather(order, keep);
    this.sorted = false;
  }

  /** Keeps the entries for which keep(i) holds, in their order. */
  filter(keep: (i: number) => boolean): number {
    let w = 0;
    for (let i = 0; i < this.size; i++) {
      if (!keep(i)) continue;
      this.ids[w] = this.ids[i]!;
      this.logits[w] = this.logits[i]!;
      this.probs[w] = this.probs[i]!;
      w++;
    }
    this.size = w;
    return w;
  }

  private gather(positions: Int32Array, count: number): void {
    for (let j = 0; j < count; j++) {
      const i = positions[j]!;
      this.tmpIds[j] = this.ids[i]!;
      this.tmpLogits[j] = this.logits[i]!;
      this.tmpProbs[j] = this.probs[i]!;
    }
    this.ids.set(this.tmpIds.subarray(0, count));
    this.logits.set(this.tmpLogits.subarray(0, count));
    this.probs.set(this.tmpProbs.subarray(0, count));
    this.size = count;
  }

  /** Softmax of the live logits into `probs`, in float32 steps as llama.cpp does. */
  softmax(): void {
    const n = this.size;
    let max = -Infinity;
    for (let i = 0; i < n; i++) if (this.logits[i]! > max) max = this.logits[i]!;
    let sum = 0;
    for (let i = 0; i < n; i++) {
      const p = Math.fround(Math.exp(this.logits[i]! - max));
      this.probs[i] = p;
      sum = Math.fround(sum + p);
    }
    for (let i = 0; i < n; i++) this.probs[i] = this.probs[i]! / sum;
  }
}
