// The grammar automaton: a set of pushdown stacks, as in llama.cpp's grammar engine. A stack is a
// chain of element positions (top = the character class to match next, below it the places to
// return to). Stacks are interned into nodes (position, parent), so a stack is one integer and
// equal stacks are equal numbers; states (sets of stacks) are interned too, and transitions
// between states are memoized — JSON grammars revisit the same few states over and over.

import { CLASS, END, RULE, GrammarError, type CompiledGrammar } from "./gbnf.ts";

/** The stack id of a finished parse (every rule returned). */
const DONE = -1;
const MAX_DEPTH = 2000;

export class GrammarMatcher {
  readonly grammar: CompiledGrammar;
  private nodePos: number[] = [];
  private nodeParent: number[] = [];
  private nodeIds = new Map<number, number>();
  private closures = new Map<number, number[]>();
  private states: number[][] = [];
  private stateIds = new Map<string, number>();
  private transitions = new Map<number, number>();
  /** State id with no stacks: nothing can follow. */
  readonly dead: number;
  readonly initial: number;

  constructor(grammar: CompiledGrammar) {
    this.grammar = grammar;
    this.dead = this.internState([]);
    const stacks = new Set<number>();
    for (const start of grammar.ruleStarts[grammar.root]!) this.expand(start, DONE, stacks, 0);
    this.initial = this.internState([...stacks]);
  }

  private node(pos: number, parent: number): number {
    const key = (parent + 1) * 4194304 + pos;
    let id = this.nodeIds.get(key);
    if (id === undefined) {
      id = this.nodePos.length;
      this.nodePos.push(pos);
      this.nodeParent.push(parent);
      this.nodeIds.set(key, id);
    }
    return id;
  }

  // Adds to `out` every stack reachable from "next match element `pos`, then return to `parent`"
  // whose top is a character class (or DONE).
  private expand(pos: number, parent: number, out: Set<number>, depth: number): void {
    if (depth > MAX_DEPTH) throw new GrammarError("rules nest too deeply (left recursion?)");
    const k = this.grammar.kind[pos]!;
    if (k === CLASS) {
      out.add(this.node(pos, parent));
    } else if (k === END) {
      if (parent === DONE) out.add(DONE);
      else this.expand(this.nodePos[parent]!, this.nodeParent[parent]!, out, depth + 1);
    } else if (k === RULE) {
      const ret = this.node(pos + 1, parent);
      for (const start of this.grammar.ruleStarts[this.grammar.arg[pos]!]!) this.expand(start, ret, out, depth + 1);
    }
  }

  // The stacks after the element at node `n` matched.
  private after(n: number): number[] {
    let c = this.closures.get(n);
    if (!c) {
      const out = new Set<number>();
      this.expand(this.nodePos[n]! + 1, this.nodeParent[n]!, out, 0);
      c = [...out];
      this.closures.set(n, c);
    }
    return c;
  }

  private internState(stacks: number[]): number {
    stacks.sort((a, b) => a - b);
    const key = stacks.join(",");
    let id = this.stateIds.get(key);
    if (id === undefined) {
      id = this.states.length;
      this.states.push(stacks);
      this.stateIds.set(key, id);
    }
    return id;
  }

  private classMatches(ci: number, cp: number): boolean {
    const { ranges, negated } = this.grammar.classes[ci]!;
    let hit = false;
    for (let i = 0; i < ranges.length; i += 2) {
      if (cp >= ranges[i]! && cp <= ranges[i + 1]!) {
        hit = true;
        break;
      }
    }
    return hit !== negated;
  }

  /** The state after code point `cp`; `dead` when the grammar cannot take it. */
  advance(state: number, cp: number): number {
    const key = state * 0x110000 + cp;
    const cached = this.transitions.get(key);
    if (cached !== undefined) return cached;
    const out = new Set<number>();
    for (const s of this.states[state]!) {
      if (s === DONE) continue;
      const pos = this.nodePos[s]!;
      if (this.classMatches(this.grammar.arg[pos]!, cp)) for (const t of this.after(s)) out.add(t);
    }
    const next = out.size === 0 ? this.dead : this.internState([...out]);
    this.transitions.set(key, next);
    return next;
  }

  /**
   * Whether some code point in [lo, hi] can come next: a token ending inside a UTF-8 character
   * is allowed only if a character with those leading bits fits (llama.cpp's partial-char check).
   */
  acceptsSomeIn(state: number, lo: number, hi: number): boolean {
    for (const s of this.states[state]!) {
      if (s === DONE) continue;
      const { ranges, negated } = this.grammar.classes[this.grammar.arg[this.nodePos[s]!]!]!;
      if (!negated) {
        for (let i = 0; i < ranges.length; i += 2) if (ranges[i]! <= hi && ranges[i + 1]! >= lo) return true;
      } else {
        // the complement meets [lo, hi] unless the ranges cover all of it
        let covered = lo;
        for (let changed = true; changed && covered <= hi; ) {
          changed = false;
          for (let i = 0; i < ranges.length; i += 2) {
            if (ranges[i]! <= covered && ranges[i + 1]! >= covered) {
              covered = ranges[i + 1]! + 1;
              changed = true;
            }
          }
        }
        if (covered <= hi) return true;
      }
    }
    return false;
  }

  /** Whether the text so far is a complete sentence of the grammar. */
  isAccepting(state: number): boolean {
    return this.states[state]!.includes(DONE);
  }

  /** Whether anything more can be matched (some stack still expects a character). */
  canContinue(state: number): boolean {
    return this.states[state]!.some((s) => s !== DONE);
  }

  /** Runs a string through the grammar from `state`. */
  advanceText(state: number, text: string): number {
    for (const ch of text) {
      state = this.advance(state, ch.codePointAt(0)!);
      if (state === this.dead) break;
    }
    return state;
  }
}
