// A grammar as a token constraint for the sampler. Tokens are judged by their bytes, so any
// vocabulary works: a token may come next when its bytes, decoded as UTF-8 after whatever partial
// character is pending, keep the grammar alive. The full mask walks a trie of all token pieces
// once, pruning every prefix the grammar rejects, so shared prefixes are checked once.

import type { TokenConstraint } from "../sampler.ts";
import { compileGrammar, parseGbnf } from "./gbnf.ts";
import { GrammarMatcher } from "./matcher.ts";

/** What the constraint needs from a tokenizer (the Tokenizer class has these). */
export interface GrammarVocab {
  readonly vocabSize: number;
  /** The bytes a token stands for; empty for control tokens. */
  pieceBytes(id: number, options?: { skipSpecial?: boolean }): Uint8Array;
  isEog(id: number): boolean;
}

// UTF-8 decoding state carried between bytes: 0 at a character boundary, else
// (bits so far) * 32 + (sequence length) * 4 + (bytes still missing).
const MIN_CP = [0, 0, 0x80, 0x800, 0x10000];

function stepUtf8(pending: number, byte: number): { pending: number; cp: number } | undefined {
  if (pending === 0) {
    if (byte < 0x80) return { pending: 0, cp: byte };
    if (byte >= 0xc2 && byte < 0xe0) return { pending: (byte & 0x1f) * 32 + 2 * 4 + 1, cp: -1 };
    if (byte >= 0xe0 && byte < 0xf0) return { pending: (byte & 0x0f) * 32 + 3 * 4 + 2, cp: -1 };
    if (byte >= 0xf0 && byte < 0xf5) return { pending: (byte & 0x07) * 32 + 4 * 4 + 3, cp: -1 };
    return undefined;
  }
  if ((byte & 0xc0) !== 0x80) return undefined;
  const missing = pending & 3;
  const length = (pending >> 2) & 7;
  const value = Math.floor(pending / 32) * 64 + (byte & 0x3f);
  if (missing === 1) {
    // overlong forms, surrogates and values past U+10FFFF are not characters
    if (value < MIN_CP[length]! || value > 0x10ffff || (value >= 0xd800 && value <= 0xdfff)) return undefined;
    return { pending: 0, cp: value };
  }
  const next = value * 32 + length * 4 + (missing - 1);
  const [lo, hi] = partialRange(next);
  return lo <= hi ? { pending: next, cp: -1 } : undefined;
}

// The code points a partial character can still become.
function partialRange(pending: number): [number, number] {
  const missing = pending & 3;
  const length = (pending >> 2) & 7;
  const span = 64 ** missing;
  const lo = Math.floor(pending / 32) * span;
  return [Math.max(lo, MIN_CP[length]!), Math.min(lo + span - 1, 0x10ffff)];
}

/** Whether a character starting with the bits in `pending` can come next in `state`. */
function partialFits(matcher: GrammarMatcher, state: number, pending: number): boolean {
  const [lo, hi] = partialRange(pending);
  return matcher.acceptsSomeIn(state, lo, hi);
}

/** A byte trie of the vocabulary, built once per vocabulary. */
class VocabTrie {
  // node arrays: first child, next sibling, byte label, first token ending here
  firstChild: Int32Array;
  nextSibling: Int32Array;
  label: Uint8Array;
  tokenAt: Int32Array;
  /** Further tokens with the same bytes, chained. */
  nextSame: Int32Array;
  size = 1;

  constructor(vocab: GrammarVocab) {
    const pieces: Uint8Array[] = [];
    let total = 1;
    for (let id = 0; id < vocab.vocabSize; id++) {
      const b = vocab.isEog(id) ? new Uint8Array(0) : vocab.pieceBytes(id, { skipSpecial: true });
      pieces.push(b);
      total += b.length;
    }
    this.firstChild = new Int32Array(total).fill(-1);
    this.nextSibling = new Int32Array(total).fill(-1);
    this.label = new Uint8Array(total);
    this.tokenAt = new Int32Array(total).fill(-1);
    this.nextSame = new Int32Array(vocab.vocabSize).fill(-1);
    pieces.forEach((bytes, id) => {
      if (bytes.length === 0) return;
      let node = 0;
      for (const byte of bytes) node = this.child(node, byte);
      this.nextSame[id] = this.tokenAt[node]!;
      this.tokenAt[node] = id;
    });
  }

  private child(node: number, byte: number): number {
    for (let c = this.firstChild[node]!; c >= 0; c = this.nextSibling[c]!) if (this.label[c] === byte) return c;
    const c = this.size++;
    this.label[c] = byte;
    this.nextSibling[c] = this.firstChild[node]!;
    this.firstChild[node] = c;
    return c;
  }
}

const MASK_CACHE = 32;

const tries = new WeakMap<GrammarVocab, { trie: VocabTrie; eog: number[] }>();

function trieFor(vocab: GrammarVocab) {
  let t = tries.get(vocab);
  if (!t) {
    const eog: number[] = [];
    for (let id = 0; id < vocab.vocabSize; id++) if (vocab.isEog(id)) eog.push(id);
    t = { trie: new VocabTrie(vocab), eog };
    tries.set(vocab, t);
  }
  return t;
}

export interface GrammarConstraint extends TokenConstraint {
  /** True once the output so far is a complete sentence of the grammar. */
  isComplete(): boolean;
  /** True when nothing but end of generation can follow. */
  mustEnd(): boolean;
  readonly matcher: GrammarMatcher;
}

export function createGrammarConstraint(grammar: string | GrammarMatcher, vocab: GrammarVocab): GrammarConstraint {
  const matcher = typeof grammar === "string" ? new GrammarMatcher(compileGrammar(parseGbnf(grammar))) : grammar;
  const { trie, eog } = trieFor(vocab);
  let state = matcher.initial;
  let pending = 0;
  const masks = new Map<string, Uint8Array>();
  // DFS work stacks, reused
  let stackNode = new Int32Array(1024);
  let stackState = new Float64Array(1024);
  let stackPending = new Float64Array(1024);

  function run(bytes: Uint8Array): { state: number; pending: number } | undefined {
    let s = state;
    let p = pending;
    for (const byte of bytes) {
      const r = stepUtf8(p, byte);
      if (!r) return undefined;
      p = r.pending;
      if (r.cp >= 0) {
        s = matcher.advance(s, r.cp);
        if (s === matcher.dead) return undefined;
      }
    }
    return { state: s, pending: p };
  }

  function computeAllowed(): Uint8Array {
    const allowed = new Uint8Array(vocab.vocabSize);
    if (endAllowed()) for (const id of eog) allowed[id] = 1;
    let top = 0;
    const push = (node: number, s: number, p: number) => {
      if (top === stackNode.length) {
        const grow = <T extends Int32Array | Float64Array>(a: T): T => {
          const b = new (a.constructor as new (n: number) => T)(a.length * 2);
          b.set(a);
          return b;
        };
        stackNode = grow(stackNode);
        stackState = grow(stackState);
        stackPending = grow(stackPending);
      }
      stackNode[top] = node;
      stackState[top] = s;
      stackPending[top] = p;
      top++;
    };
    push(0, state, pending);
    while (top > 0) {
      top--;
      const node = stackNode[top]!;
      const s = stackState[top]!;
      const p = stackPending[top]!;
      for (let c = trie.firstChild[node]!; c >= 0; c = trie.nextSibling[c]!) {
        const r = stepUtf8(p, trie.label[c]!);
        if (!r) continue;
        let ns = s;
        if (r.cp >= 0) {
          ns = matcher.advance(s, r.cp);
          if (ns === matcher.dead) continue;
        } else if (!partialFits(matcher, s, r.pending)) continue;
        for (let t = trie.tokenAt[c]!; t >= 0; t = trie.nextSame[t]!) allowed[t] = 1;
        if (trie.firstChild[c]! >= 0) push(c, ns, r.pending);
      }
    }
    return allowed;
  }

  const endAllowed = () => pending === 0 && matcher.isAccepting(state);

  return {
    matcher,
    allows(token) {
      if (vocab.isEog(token)) return endAllowed();
      const bytes = vocab.pieceBytes(token, { skipSpecial: true });
      if (bytes.length === 0) return false;
      const r = run(bytes);
      return r !== undefined && (r.pending === 0 || partialFits(matcher, r.state, r.pending));
    },
    mask(logits) {
      // grammar states recur (every character inside a free string leaves the same one), so
      // the allowed set of a state is computed once and kept for a while
      const key = `${state}:${pending}`;
      let allowed = masks.get(key);
      if (!allowed) {
        allowed = computeAllowed();
        if (masks.size >= MASK_CACHE) masks.delete(masks.keys().next().value!);
        masks.set(key, allowed);
      }
      for (let i = 0; i < logits.length; i++) if (!allowed[i]) logits[i] = -Infinity;
    },
    accept(token) {
      if (vocab.isEog(token)) return;
      const r = run(vocab.pieceBytes(token, { skipSpecial: true }));
      if (!r) throw new Error(`grammar: token ${token} does not fit the grammar`);
      state = r.state;
      pending = r.pending;
    },
    isComplete: () => endAllowed(),
    mustEnd: () => endAllowed() && !matcher.canContinue(state),
  };
}
