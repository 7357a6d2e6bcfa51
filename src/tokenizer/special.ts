// Special tokens inside text. As in llama.cpp, user-defined tokens are always cut out of the text
// before the model tokenizer runs, while control and unknown tokens (<s>, <|eot_id|>, …) are
// recognised only when the caller asks for it (parse_special); otherwise their text is ordinary
// text. Longer tokens are cut first, so "<|end_of_text|>" wins over a token "<|end".

import { TokenAttr } from "./vocab.ts";
import type { Vocab } from "./vocab.ts";

/** A piece of input: raw text to tokenize, or a token id already decided. */
export type Fragment = string | number;

const utf8 = new TextEncoder();

interface TrieNode {
  next: Map<number, TrieNode>;
  /** Candidate index of the token ending here, or -1. */
  index: number;
}

export class SpecialTokens {
  /** Candidates, longest (in UTF-8 bytes) first. */
  readonly #ids: number[];
  readonly #texts: string[];
  readonly #alwaysParsed: boolean[];
  /** UTF-16 trie of the candidates, to find in one pass which of them occur in a text. */
  readonly #trie: TrieNode = { next: new Map(), index: -1 };
  /** Code units that start some candidate. */
  readonly #starts = new Uint8Array(65536);

  constructor(vocab: Vocab) {
    const { tokens, attrs } = vocab;
    const found: { id: number; bytes: number }[] = [];
    for (let id = 0; id < tokens.length; id++) {
      if (attrs[id]! & (TokenAttr.CONTROL | TokenAttr.USER_DEFINED | TokenAttr.UNKNOWN)) {
        found.push({ id, bytes: utf8.encode(tokens[id]!).length });
      }
    }
    found.sort((a, b) => b.bytes - a.bytes || a.id - b.id);
    this.#ids = found.map((f) => f.id);
    this.#texts = found.map((f) => tokens[f.id]!);
    this.#alwaysParsed = found.map((f) => (attrs[f.id]! & (TokenAttr.CONTROL | TokenAttr.UNKNOWN)) === 0);
    this.#texts.forEach((t, k) => {
      let node = this.#trie;
      for (let i = 0; i < t.length; i++) {
        const c = t.charCodeAt(i);
        let child = node.next.get(c);
        if (!child) {
          child = { next: new Map(), index: -1 };
          node.next.set(c, child);
        }
        node = child;
      }
      node.index = k;
      this.#starts[t.charCodeAt(0)] = 1;
    });
  }

  /** Candidate indexes (in cutting order) whose text occurs somewhere in `text`. */
  #present(text: string, parseSpecial: boolean): number[] {
    const seen = new Set<number>();
    const starts = this.#starts;
    for (let i = 0; i < text.length; i++) {
      if (!starts[text.charCodeAt(i)]) continue;
      let node: TrieNode | undefined = this.#trie;
      for (let j = i; j < text.length; j++) {
        node = node.next.get(text.charCodeAt(j));
        if (!node) break;
        if (node.index >= 0 && (parseSpecial || this.#alwaysParsed[node.index])) seen.add(node.index);
      }
    }
    return [...seen].sort((a, b) => a - b);
  }

  /** Splits `text` into raw-text fragments and special-token ids. Empty text gives no fragments. */
  partition(text: string, parseSpecial: boolean): Fragment[] {
    if (text.length === 0) return [];
    let fragments: Fragment[] = [text];
    for (const k of this.#present(text, parseSpecial)) {
      const needle = this.#texts[k]!;
      const id = this.#ids[k]!;
      const next: Fragment[] = [];
      for (const f of fragments) {
        if (typeof f === "number") {
          next.push(f);
          continue;
        }
        let from = 0;
        for (;;) {
          const at = f.indexOf(needle, from);
          if (at < 0) break;
          if (at > from) next.push(f.slice(from, at));
          next.push(id);
          from = at + needle.length;
        }
        if (from === 0) next.push(f);
        else if (from < f.length) next.push(f.slice(from));
      }
      fragments = next;
    }
    return fragments;
  }
}
