// SentencePiece-BPE as llama.cpp runs it for Llama 1/2 vocabularies: start from single code
// points, repeatedly merge the adjacent pair whose concatenation is the vocabulary token with the
// highest score (ties: leftmost), then spell every code point that never became a token as
// <0xXX> byte tokens. Spaces are "▁" and a dummy-prefix space is added by the caller.
//
// Rather than build and hash the concatenated strings for every candidate pair, all pairs are
// enumerated once from the vocabulary: a token of k code points can be formed from k-1 splits,
// and each split whose halves are themselves symbols (a token, or a single code point) is a pair.

import { KeyHeap } from "./heap.ts";
import { mergePairs } from "./merge.ts";
import { PairTable } from "./pairs.ts";
import { codePointBytes } from "./utf8.ts";
import { NO_TOKEN, TokenizerError } from "./vocab.ts";
import type { Vocab } from "./vocab.ts";


export class SpmEncoder {
  readonly #vocab: Vocab;
  readonly #pairs: PairTable;
  /** Symbol id of each code point: its token, or an id ≥ vocab size for code points that occur only inside tokens. */
  readonly #charId = new Map<number, number>();
  /** Token for each byte when a code point has no token of its own. */
  readonly #byteToken = new Int32Array(256);
  readonly #heap = new KeyHeap();
  /** Merge-queue operations so far (pushes and pops), for complexity checks. */
  steps = 0;
  #id = new Int32Array(256);
  #cp = new Int32Array(256);
  #prev = new Int32Array(256);
  #next = new Int32Array(256);

  constructor(vocab: Vocab, name?: string) {
    this.#vocab = vocab;
    const { tokens, textToId, scores } = vocab;
    const n = tokens.length;
    if (n >= 2 ** 21) throw new TokenizerError(`${name ? name + ": " : ""}vocabulary too large (${n} tokens)`);

    // Priority = position of the token's score among the distinct scores, highest first.
    const order = Array.from(scores.keys()).sort((a, b) => scores[b]! - scores[a]!);
    const priority = new Int32Array(n);
    let p = 0;
    for (let k = 0; k < n; k++) {
      if (k > 0 && scores[order[k]!] !== scores[order[k - 1]!]) p++;
      priority[order[k]!] = p;
    }

    for (let id = 0; id < n; id++) {
      const t = tokens[id]!;
      const cp = t.codePointAt(0)!;
      if (t.length === (cp > 0xffff ? 2 : 1)) this.#charId.set(cp, id);
    }
    let virtual = n;
    const split: number[] = [];
    for (let id = 0; id < n; id++) {
      for (const ch of tokens[id]!) {
        const cp = ch.codePointAt(0)!;
        if (!this.#charId.has(cp)) this.#charId.set(cp, virtual++);
      }
    }
    let pairCount = 0;
    for (const t of tokens) pairCount += Math.max(0, t.length - 1); // at most one pair per split point
    this.#pairs = new PairTable(pairCount);
    const symbolOf = (s: string, oneCodePoint: boolean): number | undefined =>
      oneCodePoint ? this.#charId.get(s.codePointAt(0)!) : textToId.get(s);
    for (let id = 0; id < n; id++) {
      const t = tokens[id]!;
      split.length = 0;
      for (let i = 0; i < t.length; i += t.codePointAt(i)! > 0xffff ? 2 : 1) split.push(i);
      const k = split.length;
      for (let j = 1; j < k; j++) {
        const at = split[j]!;
        const a = symbolOf(t.slice(0, at), j === 1);
        const b = symbolOf(t.slice(at), j === k - 1);
        if (a !== undefined && b !== undefined) this.#pairs.add(a, b, priority[id]!, id);
      }
    }

    const hex = "0123456789ABCDEF";
    for (let b = 0; b < 256; b++) {
      const named = textToId.get(`<0x${hex[b >> 4]}${hex[b & 15]}>`);
      const raw = b < 0x80 ? textToId.get(String.fromCharCode(b)) : undefined;
      this.#byteToken[b] = named ?? raw ?? vocab.unk;
    }
  }

  /** Appends the tokens of `text`, whose spaces the caller has already turned into "▁". */
  encode(text: string, out: number[]): void {
    const len = text.length;
    if (len === 0) return;
    if (this.#id.length < len) {
      const cap = Math.max(len, this.#id.length * 2);
      this.#id = new Int32Array(cap);
      this.#cp = new Int32Array(cap);
      this.#prev = new Int32Array(cap);
      this.#next = new Int32Array(cap);
    }
    const id = this.#id;
    const cps = this.#cp;
    const prev = this.#prev;
    const next = this.#next;
    const charId = this.#charId;
    let n = 0;
    for (let i = 0; i < len; i++) {
      let c = text.charCodeAt(i);
      if (c >= 0xd800 && c < 0xdc00 && i + 1 < len) c = 0x10000 + ((c - 0xd800) << 10) + (text.charCodeAt(++i) - 0xdc00);
      cps[n] = c;
      id[n] = charId.get(c) ?? -1;
      prev[n] = n - 1;
      next[n] = n + 1;
      n++;
    }
    next[n - 1] = -1;

    const pairs = this.#pairs;
    const heap = this.#heap;
    this.steps += mergePairs(id, prev, next, n, pairs, heap);

    const vocabSize = this.#vocab.tokens.length;
    for (let i = 0; i >= 0; i = next[i]!) {
      const t = id[i]!;
      if (t >= 0 && t < vocabSize) {
        out.push(t);
        continue;
      }
      for (const b of codePointBytes(cps[i]!)) {
        const bt = this.#byteToken[b]!;
        if (bt === NO_TOKEN) {
          throw new TokenizerError(`the vocabulary has no token for byte 0x${b.toString(16).padStart(2, "0")} and no unknown token`);
        }
        out.push(bt);
      }
    }
  }
}
