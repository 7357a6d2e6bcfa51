// JSON Schema → GBNF, for response_format / --json-schema. Covers type (incl. lists of types),
// properties / required / additionalProperties, items / prefixItems / minItems / maxItems,
// enum, const, anyOf / oneOf, allOf of object schemas, $ref into $defs / definitions,
// minLength / maxLength. Properties come in the schema's order, optional ones may be left out
// (as llama.cpp's converter does); without additionalProperties no other keys are allowed.
// Numbers have at most 16 digits per part so a generation always ends.

import { GrammarError } from "./gbnf.ts";

type Schema = boolean | Record<string, unknown>;

const PRIMITIVES: Record<string, string> = {
  space: '| " " | "\\n" [ \\t]{0,20}',
  boolean: '("true" | "false") space',
  null: '"null" space',
  char: '[^"\\\\\\x7F\\x00-\\x1F] | "\\\\" (["\\\\/bfnrt] | "u" [0-9a-fA-F]{4})',
  string: '"\\"" char* "\\"" space',
  "integral-part": "[0] | [1-9] [0-9]{0,15}",
  "decimal-part": "[0-9]{1,16}",
  integer: '("-"? integral-part) space',
  number: '("-"? integral-part) ("." decimal-part)? ([eE] [-+]? integral-part)? space',
  value: "object | array | string | number | boolean | null",
  object: '"{" space (string ":" space value ("," space string ":" space value)*)? "}" space',
  array: '"[" space (value ("," space value)*)? "]" space',
};

// which primitives each one needs
const DEPENDS: Record<string, string[]> = {
  boolean: ["space"], null: ["space"], string: ["char", "space"], integer: ["integral-part", "space"],
  number: ["integral-part", "decimal-part", "space"], value: ["object", "array", "string", "number", "boolean", "null"],
  object: ["string", "value", "space"], array: ["value", "space"],
};

/** A GBNF literal for a string, every character escaped that the parser would read otherwise. */
export function gbnfLiteral(s: string): string {
  let out = '"';
  for (const ch of s) {
    const cp = ch.codePointAt(0)!;
    if (ch === '"' || ch === "\\") out += "\\" + ch;
    else if (cp < 0x20 || cp === 0x7f) out += "\\x" + cp.toString(16).padStart(2, "0");
    else out += ch;
  }
  return out + '"';
}

class Converter {
  private readonly rules = new Map<string, string>();
  private readonly refs = new Map<string, string>();
  private readonly root: Record<string, unknown>;

  constructor(root: Schema) {
    this.root = typeof root === "object" ? root : {};
  }

  private usePrimitive(name: string): string {
    if (!this.rules.has(name)) {
      this.rules.set(name, PRIMITIVES[name]!);
      for (const d of DEPENDS[name] ?? []) this.usePrimitive(d);
    }
    return name;
  }

  private add(name: string, body: string): string {
    const base = name.replace(/[^a-zA-Z0-9-]+/g, "-").replace(/^-+|-+$/g, "") || "r";
    let n = base;
    for (let i = 1; this.rules.has(n) || n in PRIMITIVES; i++) n = `${base}-${i}`;
    this.rules.set(n, body);
    return n;
  }

  private resolveRef(ref: string): string {
    const known = this.refs.get(ref);
    if (known) return known;
    const m = /^#\/(\$defs|definitions)\/(.+)$/.exec(ref);
    if (!m && ref !== "#") throw new GrammarError(`unsupported $ref ${ref} (only #/$defs/… and #/definitions/…)`);
    const target = ref === "#" ? this.root : (this.root[m![1]!] as Record<string, Schema> | undefined)?.[decodeURIComponent(m![2]!)];
    if (target === undefined) throw new GrammarError(`$ref ${ref} points nowhere`);
    // reserve the name first so recursive schemas refer to it
    const name = this.add(`ref-${m ? m[2] : "root"}`, "");
    this.refs.set(ref, name);
    this.rules.set(name, this.visit(target, name));
    return name;
  }

  /** Returns a GBNF expression for the schema (a rule name or an inline alternation). */
  visit(schema: Schema, name: string): string {
    if (schema === true) return this.usePrimitive("value");
    if (schema === false) throw new GrammarError(`schema at ${name} allows nothing`);
    const s = schema;
    if (typeof s.$ref === "string") return this.resolveRef(s.$ref);
    if ("const" in s) return `${gbnfLiteral(JSON.stringify(s.const))} ${this.usePrimitive("space")}`;
    if (Array.isArray(s.enum)) {
      if (s.enum.length === 0) throw new GrammarError(`empty enum at ${name}`);
      this.usePrimitive("space");
      return this.add(name, `(${s.enum.map((v) => gbnfLiteral(JSON.stringify(v))).join(" | ")}) space`);
    }
    const alts = (s.anyOf ?? s.oneOf) as Schema[] | undefined;
    if (Array.isArray(alts)) {
      return this.add(name, alts.map((a, i) => this.visit(mergeSiblings(s, a), `${name}-${i}`)).join(" | "));
    }
    if (Array.isArray(s.allOf)) return this.visit(mergeAll(s), name);
    const type = s.type;
    if (Array.isArray(type)) {
      return this.add(name, type.map((t, i) => this.visit({ ...s, type: t }, `${name}-${i}`)).join(" | "));
    }
    switch (type) {
      case "string": return this.stringRule(s, name);
      case "integer": return this.usePrimitive("integer");
      case "number": return this.usePrimitive("number");
      case "boolean": return this.usePrimitive("boolean");
      case "null": return this.usePrimitive("null");
      case "array": return this.arrayRule(s, name);
      case "object": return this.objectRule(s, name);
      case undefined:
        if (s.properties || s.additionalProperties !== undefined) return this.objectRule(s, name);
        if (s.items || s.prefixItems) return this.arrayRule(s, name);
        return this.usePrimitive("value");
      default:
        throw new GrammarError(`unsupported type ${JSON.stringify(type)} at ${name}`);
    }
  }

  private stringRule(s: Record<string, unknown>, name: string): string {
    if (s.pattern !== undefined) throw new GrammarError(`"pattern" is not supported (at ${name})`);
    const min = count(s.minLength, 0);
    const max = s.maxLength === undefined ? -1 : count(s.maxLength, 0);
    if (min === 0 && max === -1) return this.usePrimitive("string");
    this.usePrimitive("char");
    this.usePrimitive("space");
    return this.add(name, `"\\"" char{${min},${max < 0 ? "" : max}} "\\"" space`);
  }

  private arrayRule(s: Record<string, unknown>, name: string): string {
    this.usePrimitive("space");
    if (Array.isArray(s.prefixItems)) {
      const parts = s.prefixItems.map((item, i) => this.visit(item as Schema, `${name}-${i}`));
      const body = parts.length ? parts.join(' "," space ') : "";
      return this.add(name, `"[" space ${body} "]" space`);
    }
    const item = this.visit((s.items as Schema | undefined) ?? true, `${name}-item`);
    const min = count(s.minItems, 0);
    const max = s.maxItems === undefined ? -1 : count(s.maxItems, 0);
    if (max !== -1 && max < min) throw new GrammarError(`maxItems < minItems at ${name}`);
    const more = (lo: number, hi: number) => (hi === 0 ? "" : ` ("," space ${item}){${lo},${hi < 0 ? "" : hi}}`);
    let inner: string;
    if (max === 0) inner = "";
    else if (min === 0) inner = `(${item}${more(0, max < 0 ? -1 : max - 1)})?`;
    else inner = `${item}${more(min - 1, max < 0 ? -1 : max - 1)}`;
    return this.add(name, `"[" space ${inner} "]" space`);
  }

  private objectRule(s: Record<string, unknown>, name: string): string {
    this.usePrimitive("space");
    const props = (s.properties ?? {}) as Record<string, Schema>;
    const keys = Object.keys(props);
    const required = new Set(Array.isArray(s.required) ? (s.required as string[]) : []);
    for (const r of required) if (!(r in props)) throw new GrammarError(`required property ${r} has no schema at ${name}`);
    const extra = s.additionalProperties === undefined ? s.properties === undefined : s.additionalProperties;
    const kv = keys.map((k) => `${gbnfLiteral(JSON.stringify(k))} space ":" space ${this.visit(props[k]!, `${name}-${k}`)}`);
    let extraKv: string | undefined;
    if (extra !== false) {
      const value = this.visit(extra === true ? true : (extra as Schema), `${name}-additional`);
      extraKv = this.add(`${name}-extra-kv`, `${this.usePrimitive("string")} ":" space ${value}`);
    }
    // first(i): members i.. when none was written yet; rest(i): when one was (each needs a comma)
    const rest: string[] = [];
    const first: string[] = [];
    rest[keys.length] = extraKv ? `("," space ${extraKv})*` : "";
    first[keys.length] = extraKv ? `(${extraKv} ("," space ${extraKv})*)?` : "";
    for (let i = keys.length - 1; i >= 0; i--) {
      const restNext = rest[i + 1] ? this.add(`${name}-rest-${i + 1}`, rest[i + 1]!) : "";
      const kvRule = this.add(`${name}-${keys[i]}-kv`, kv[i]!);
      if (required.has(keys[i]!)) {
        rest[i] = `"," space ${kvRule} ${restNext}`;
        first[i] = `${kvRule} ${restNext}`;
      } else {
        rest[i] = `("," space ${kvRule})? ${restNext}`;
        const firstNext = first[i + 1] ? this.add(`${name}-first-${i + 1}`, first[i + 1]!) : "";
        first[i] = `${kvRule} ${restNext} | ${firstNext}`;
      }
    }
    const members = first[0] ? `(${first[0]})` : "";
    return this.add(name, `"{" space ${members} "}" space`);
  }

  grammar(schema: Schema): string {
    const root = this.visit(schema, "root-value");
    const lines = [`root ::= ${root}`];
    for (const [n, body] of this.rules) lines.push(`${n} ::= ${body}`);
    return lines.join("\n") + "\n";
  }
}

function count(v: unknown, fallback: number): number {
  if (v === undefined) return fallback;
  if (typeof v !== "number" || !Number.isInteger(v) || v < 0) throw new GrammarError(`expected a non-negative integer, got ${JSON.stringify(v)}`);
  return v;
}

// anyOf branches inherit their parent's other keywords (e.g. a shared "type")
function mergeSiblings(parent: Record<string, unknown>, branch: Schema): Schema {
  if (typeof branch !== "object") return branch;
  const { anyOf: _a, oneOf: _o, ...rest } = parent;
  return Object.keys(rest).length ? { ...rest, ...branch } : branch;
}

function mergeAll(s: Record<string, unknown>): Record<string, unknown> {
  const { allOf, ...rest } = s;
  const out: Record<string, unknown> = { ...rest };
  for (const part of allOf as Schema[]) {
    if (typeof part !== "object") continue;
    for (const [k, v] of Object.entries(part)) {
      if (k === "properties") out.properties = { ...(out.properties as object), ...(v as object) };
      else if (k === "required") out.required = [...((out.required as string[]) ?? []), ...(v as string[])];
      else out[k] = v;
    }
  }
  return out;
}

/** GBNF for values of `schema`. */
export function jsonSchemaToGbnf(schema: unknown): string {
  if (typeof schema !== "boolean" && (typeof schema !== "object" || schema === null || Array.isArray(schema))) {
    throw new GrammarError("a JSON schema must be an object or a boolean");
  }
  return new Converter(schema as Schema).grammar(schema as Schema);
}

/** GBNF for JSON mode (response_format json_object): any JSON object. */
export function jsonObjectGbnf(): string {
  return jsonSchemaToGbnf({ type: "object" });
}
