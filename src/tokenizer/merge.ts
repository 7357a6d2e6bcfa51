// The merge loop both tokenizers share: symbols in a doubly linked list, every adjacent pair the
// table knows queued by (priority, position), and the best pair merged until none is left. SPM
// ranks pairs by the merged piece's score, BPE by merge rank; both break ties leftmost-first, as
// llama.cpp does. Stale queue entries (a side merged since) are skipped when popped, so the work
// is O(n log n) in the number of symbols.

import { KEY_SHIFT, type KeyHeap } from "./heap.ts";
import type { PairTable } from "./pairs.ts";

/** Marks a symbol absorbed into its left neighbour. */
export const DEAD = -2;

/**
 * Merge `id[0..n)` in place (`prev`/`next` link the live symbols; `next` of the last is -1).
 * Afterwards the live symbols are reached from 0 through `next`. Returns the queue operations done.
 */
export function mergePairs(id: Int32Array, prev: Int32Array, next: Int32Array, n: number, pairs: PairTable, heap: KeyHeap): number {
  let steps = 0;
  const queue = (left: number, right: number) => {
    const slot = pairs.find(id[left]!, id[right]!);
    if (slot >= 0) {
      heap.push(pairs.priorityAt(slot) * KEY_SHIFT + left);
      steps++;
    }
  };
  heap.clear();
  for (let i = 0; i + 1 < n; i++) queue(i, i + 1);
  while (heap.size > 0) {
    steps++;
    const key = heap.pop();
    const priority = Math.floor(key / KEY_SHIFT);
    const left = key - priority * KEY_SHIFT;
    const leftId = id[left]!;
    if (leftId === DEAD) continue;
    const right = next[left]!;
    if (right < 0) continue;
    const slot = pairs.find(leftId, id[right]!);
    if (slot < 0 || pairs.priorityAt(slot) !== priority) continue;
    id[left] = pairs.mergedAt(slot);
    id[right] = DEAD;
    const after = next[right]!;
    next[left] = after;
    if (after >= 0) prev[after] = left;
    const before = prev[left]!;
    if (before >= 0) queue(before, left);
    if (after >= 0) queue(left, after);
  }
  return steps;
}
