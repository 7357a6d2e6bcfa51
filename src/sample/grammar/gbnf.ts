// GBNF, llama.cpp's grammar format, parsed and compiled into flat arrays the matcher walks.
//
//   root  ::= "{" ws pair ("," ws pair)* "}"      # literals, rule references, groups
//   digit ::= [0-9]  other ::= [^"\\] .          # classes, negation, any character
//   x* x+ x? x{2} x{2,} x{2,5}                     # repetition
//
// Rules end where the next `name ::=` starts, so alternatives may continue on following lines.
// Characters are Unicode code points.

import { UserError } from "../../errors.ts";

export class GrammarError extends UserError {
  constructor(message: string) {
    super(`grammar: ${message}`);
    this.name = "GrammarError";
  }
}

/** A parsed element. Classes hold [lo, hi] code point pairs. */
export type GElem =
  | { kind: "class"; ranges: number[]; negated: boolean }
  | { kind: "ref"; name: string };

export type GAlt = GElem[];

export interface GrammarAst {
  rules: Map<string, GAlt[]>;
}

const NAME = /[a-zA-Z0-9_-]/;

class Parser {
  private pos = 0;
  private generated = 0;
  readonly rules = new Map<string, GAlt[]>();
  private readonly text: string;

  constructor(text: string) {
    this.text = text;
  }

  private fail(msg: string): never {
    const line = this.text.slice(0, this.pos).split("\n").length;
    throw new GrammarError(`${msg} at line ${line}`);
  }

  private skipSpace(): void {
    for (;;) {
      const c = this.text[this.pos];
      if (c === "#") {
        while (this.pos < this.text.length && this.text[this.pos] !== "\n") this.pos++;
      } else if (c === " " || c === "\t" || c === "\n" || c === "\r") this.pos++;
      else return;
    }
  }

  private name(): string {
    const start = this.pos;
    while (this.pos < this.text.length && NAME.test(this.text[this.pos]!)) this.pos++;
    if (this.pos === start) this.fail("expected a rule name");
    return this.text.slice(start, this.pos);
  }

  // true when the text at pos is `name ::=` (the start of the next rule)
  private atRuleStart(): boolean {
    const m = /^[a-zA-Z0-9_-]+[ \t]*::=/.exec(this.text.slice(this.pos, this.pos + 200));
    return m !== null;
  }

  parse(): Map<string, GAlt[]> {
    this.skipSpace();
    while (this.pos < this.text.length) {
      const name = this.name();
      this.skipSpace();
      if (!this.text.startsWith("::=", this.pos)) this.fail(`expected ::= after ${name}`);
      this.pos += 3;
      const alts = this.alternatives(false);
      if (this.rules.has(name)) this.rules.get(name)!.push(...alts);
      else this.rules.set(name, alts);
      this.skipSpace();
    }
    return this.rules;
  }

  private alternatives(nested: boolean): GAlt[] {
    const alts: GAlt[] = [this.sequence(nested)];
    while (this.text[this.pos] === "|") {
      this.pos++;
      alts.push(this.sequence(nested));
    }
    return alts;
  }

  private sequence(nested: boolean): GAlt {
    const seq: GAlt = [];
    for (;;) {
      this.skipSpace();
      if (this.pos >= this.text.length) break;
      const c = this.text[this.pos]!;
      if (c === "|" || c === ")") break;
      if (!nested && this.atRuleStart()) break;
      const start = seq.length;
      if (c === '"') {
        this.pos++;
        while (this.text[this.pos] !== '"') {
          if (this.pos >= this.text.length) this.fail("unterminated string");
          const cp = this.char();
          seq.push({ kind: "class", ranges: [cp, cp], negated: false });
        }
        this.pos++;
      } else if (c === "[") {
        seq.push(this.charClass());
      } else if (c === ".") {
        this.pos++;
        seq.push({ kind: "class", ranges: [], negated: true });
      } else if (c === "(") {
        this.pos++;
        const alts = this.alternatives(true);
        this.skipSpace();
        if (this.text[this.pos] !== ")") this.fail("expected )");
        this.pos++;
        seq.push({ kind: "ref", name: this.newRule(alts) });
      } else if (NAME.test(c)) {
        seq.push({ kind: "ref", name: this.name() });
      } else {
        this.fail(`unexpected ${JSON.stringify(c)}`);
      }
      this.repetition(seq, start);
    }
    return seq;
  }

  private newRule(alts: GAlt[]): string {
    const name = `__g${this.generated++}`;
    this.rules.set(name, alts);
    return name;
  }

  // Applies a postfix operator to seq[start..] (the last element parsed, a literal may be several).
  private repetition(seq: GAlt, start: number): void {
    const c = this.text[this.pos];
    let min: number;
    let max: number; // -1: unbounded
    if (c === "*") [min, max] = [0, -1];
    else if (c === "+") [min, max] = [1, -1];
    else if (c === "?") [min, max] = [0, 1];
    else if (c === "{") {
      const m = /^\{\s*(\d+)\s*(?:(,)\s*(\d*)\s*)?\}/.exec(this.text.slice(this.pos, this.pos + 40));
      if (!m) this.fail("bad {m,n} repetition");
      min = Number(m[1]);
      max = m[2] ? (m[3] ? Number(m[3]) : -1) : min;
      if (max !== -1 && max < min) this.fail("repetition {m,n} with n < m");
      this.pos += m[0].length - 1;
    } else return;
    this.pos++;
    const item = seq.splice(start);
    if (item.length === 0) this.fail("repetition of nothing");
    const unit: GElem = item.length === 1 ? item[0]! : { kind: "ref", name: this.newRule([item]) };
    for (let i = 0; i < min; i++) seq.push(unit);
    if (max === -1) {
      const star = `__g${this.generated++}`;
      this.rules.set(star, [[unit, { kind: "ref", name: star }], []]);
      seq.push({ kind: "ref", name: star });
    } else {
      // x{0,k}: opt_k ::= x opt_{k-1} | ε, so no alternative explodes
      let tail: string | undefined;
      for (let i = 0; i < max - min; i++) {
        const alt: GAlt = tail ? [unit, { kind: "ref", name: tail }] : [unit];
        tail = this.newRule([alt, []]);
      }
      if (tail) seq.push({ kind: "ref", name: tail });
    }
  }

  private charClass(): GElem {
    this.pos++; // [
    let negated = false;
    if (this.text[this.pos] === "^") {
      negated = true;
      this.pos++;
    }
    const ranges: number[] = [];
    while (this.text[this.pos] !== "]") {
      if (this.pos >= this.text.length) this.fail("unterminated character class");
      const lo = this.char();
      let hi = lo;
      if (this.text[this.pos] === "-" && this.text[this.pos + 1] !== "]") {
        this.pos++;
        hi = this.char();
      }
      ranges.push(lo, hi);
    }
    this.pos++;
    return { kind: "class", ranges, negated };
  }

  private char(): number {
    const c = this.text[this.pos]!;
    if (c !== "\\") {
      const cp = this.text.codePointAt(this.pos)!;
      this.pos += cp > 0xffff ? 2 : 1;
      return cp;
    }
    const e = this.text[this.pos + 1];
    this.pos += 2;
    const hex = (n: number) => {
      const h = this.text.slice(this.pos, this.pos + n);
      if (!/^[0-9a-fA-F]+$/.test(h) || h.length !== n) this.fail("bad escape");
      this.pos += n;
      return parseInt(h, 16);
    };
    switch (e) {
      case "n": return 10;
      case "t": return 9;
      case "r": return 13;
      case "x": return hex(2);
      case "u": return hex(4);
      case "U": return hex(8);
      case undefined: return this.fail("bad escape");
      default: return e.codePointAt(0)!;
    }
  }
}

export function parseGbnf(text: string): GrammarAst {
  const rules = new Parser(text).parse();
  if (!rules.has("root")) throw new GrammarError("no root rule");
  for (const alts of rules.values()) {
    for (const alt of alts) {
      for (const e of alt) if (e.kind === "ref" && !rules.has(e.name)) throw new GrammarError(`undefined rule ${e.name}`);
    }
  }
  return { rules };
}

// Flat form: element k has kind[k] (END / CLASS / RULE) and arg[k] (class index or rule index).
export const END = 0;
export const CLASS = 1;
export const RULE = 2;

export interface CompiledGrammar {
  kind: Uint8Array;
  arg: Int32Array;
  /** ruleStarts[r]: the element index where each alternative of rule r begins. */
  ruleStarts: number[][];
  classes: { ranges: Int32Array; negated: boolean }[];
  root: number;
}

export function compileGrammar(ast: GrammarAst): CompiledGrammar {
  const names = [...ast.rules.keys()];
  const index = new Map(names.map((n, i) => [n, i]));
  const kind: number[] = [];
  const arg: number[] = [];
  const classes: CompiledGrammar["classes"] = [];
  const classKey = new Map<string, number>();
  const ruleStarts: number[][] = [];
  for (const name of names) {
    const starts: number[] = [];
    for (const alt of ast.rules.get(name)!) {
      starts.push(kind.length);
      for (const e of alt) {
        if (e.kind === "ref") {
          kind.push(RULE);
          arg.push(index.get(e.name)!);
        } else {
          const key = `${e.negated ? "^" : ""}${e.ranges.join(",")}`;
          let ci = classKey.get(key);
          if (ci === undefined) {
            ci = classes.length;
            classes.push({ ranges: Int32Array.from(e.ranges), negated: e.negated });
            classKey.set(key, ci);
          }
          kind.push(CLASS);
          arg.push(ci);
        }
      }
      kind.push(END);
      arg.push(0);
    }
    ruleStarts.push(starts);
  }
  return { kind: Uint8Array.from(kind), arg: Int32Array.from(arg), ruleStarts, classes, root: index.get("root")! };
}
