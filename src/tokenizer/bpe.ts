// Byte-level BPE (GPT-2 / Llama 3 style): each pre-token word becomes its UTF-8 bytes, and the
// adjacent pair with the lowest merge rank is merged until none is left — ties go to the leftmost
// pair, as in llama.cpp. A heap of (rank, position) keys with lazy invalidation keeps a word of n
// bytes at O(n log n), so a long run of one character costs no more than ordinary text.

import { byteToChar } from "./byte-level.ts";
import { KeyHeap } from "./heap.ts";
import { mergePairs } from "./merge.ts";
import { PairTable } from "./pairs.ts";
import { PreTokenizer } from "./pretokenize.ts";
import { Utf8Buffer } from "./utf8.ts";
import { TokenizerError } from "./vocab.ts";
import type { Vocab } from "./vocab.ts";

/** Words longer than this are not cached (they are rare and would crowd the cache). */
const CACHE_WORD_MAX = 48;
const CACHE_ENTRIES_MAX = 1 << 16;

export class BpeEncoder {
  readonly pre: PreTokenizer;
  readonly #vocab: Vocab;
  readonly #pairs: PairTable;
  /** Token id of each single byte, -1 where the vocabulary lacks it. */
  readonly #byteId = new Int32Array(256);
  readonly #cache = new Map<string, number | Int32Array>();
  readonly #utf8 = new Utf8Buffer();
  readonly #heap = new KeyHeap();
  /** Merge-queue operations so far (pushes and pops), for complexity checks. */
  steps = 0;
  #id = new Int32Array(256);
  #prev = new Int32Array(256);
  #next = new Int32Array(256);

  constructor(vocab: Vocab, name?: string) {
    this.#vocab = vocab;
    this.pre = new PreTokenizer(vocab.pre);
    const { textToId, merges } = vocab;
    if (merges.length >= 2 ** 21) throw new TokenizerError(`${name ? name + ": " : ""}too many merges (${merges.length})`);
    for (let b = 0; b < 256; b++) this.#byteId[b] = textToId.get(byteToChar[b]!) ?? -1;
    this.#pairs = new PairTable(merges.length);
    for (let rank = 0; rank < merges.length; rank++) {
      const m = merges[rank]!;
      const space = m.indexOf(" ", 1);
      const fail = (problem: string): never => {
        throw new TokenizerError(`${name ? name + ": " : ""}tokenizer.ggml.merges[${rank}] ${JSON.stringify(m)} ${problem}`);
      };
      if (space < 0) fail("is not two tokens separated by a space");
      const left = m.slice(0, space);
      const right = m.slice(space + 1);
      const a = textToId.get(left);
      const b = textToId.get(right);
      if (a === undefined) fail(`refers to ${JSON.stringify(left)}, which is not in the vocabulary`);
      if (b === undefined) fail(`refers to ${JSON.stringify(right)}, which is not in the vocabulary`);
      const merged = textToId.get(left + right);
      if (merged === undefined) fail(`makes ${JSON.stringify(left + right)}, which is not in the vocabulary`);
      this.#pairs.add(a!, b!, rank, merged!);
    }
  }

  /** Appends the tokens of one raw-text fragment (no special tokens inside). */
  encode(text: string, out: number[]): void {
    this.pre.split(text, (word) => this.#word(word, out));
  }

  #word(word: string, out: number[]): void {
    const cached = this.#cache.get(word);
    if (cached !== undefined) {
      if (typeof cached === "number") out.push(cached);
      else for (let i = 0; i < cached.length; i++) out.push(cached[i]!);
      return;
    }
    const start = out.length;
    this.#encodeWord(word, out);
    if (word.length <= CACHE_WORD_MAX) {
      if (this.#cache.size >= CACHE_ENTRIES_MAX) this.#cache.clear();
      this.#cache.set(word, out.length - start === 1 ? out[start]! : Int32Array.from(out.slice(start)));
    }
  }

  #encodeWord(word: string, out: number[]): void {
    const u = this.#utf8;
    u.encode(word);
    const n = u.length;
    const bytes = u.bytes;
    if (n === 1) {
      const id = this.#byteId[bytes[0]!]!;
      if (id >= 0) out.push(id);
      return;
    }
    if (this.#vocab.ignoreMerges) {
      let s = "";
      for (let i = 0; i < n; i++) s += byteToChar[bytes[i]!]!;
      const whole = this.#vocab.textToId.get(s);
      if (whole !== undefined) {
        out.push(whole);
        return;
      }
    }
    if (this.#id.length < n) {
      const cap = Math.max(n, this.#id.length * 2);
      this.#id = new Int32Array(cap);
      this.#prev = new Int32Array(cap);
      this.#next = new Int32Array(cap);
    }
    const id = this.#id;
    const prev = this.#prev;
    const next = this.#next;
    const pairs = this.#pairs;
    const heap = this.#heap;
    for (let i = 0; i < n; i++) {
      id[i] = this.#byteId[bytes[i]!]!;
      prev[i] = i - 1;
      next[i] = i + 1;
    }
    next[n - 1] = -1;
    this.steps += mergePairs(id, prev, next, n, pairs, heap);
    // A byte the vocabulary lacks yields nothing, as in llama.cpp.
    for (let i = 0; i >= 0; i = next[i]!) {
      if (id[i]! >= 0) out.push(id[i]!);
    }
  }
}
