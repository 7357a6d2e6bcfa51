// Renders chat templates with @huggingface/jinja, in the environment Hugging Face transformers and
// llama.cpp give them (trim_blocks, lstrip_blocks, raise_exception, strftime_now, tojson).
//
// The library's Template.render() cannot take our own strftime_now (its globals are declared
// first and cannot be redeclared), and it departs from Python Jinja2 in a few places real
// templates hit. We run its Interpreter on our own Environment and bridge those gaps in the one
// public hook, evaluate():
//  - `for x in undefined` renders the empty loop (Python: Undefined iterates as empty);
//    Hermes / Command-R tool templates loop over `tools` without checking it is defined.
//  - `for a, b in [(..), (..)]`: the library rejects tuple items when unpacking.
//  - `none | selectattr(...)` and friends give an empty list (Jinja2's select_or_reject and map
//    start with `if seq:`); functionary v3.1 relies on it.
//  - string filters on an undefined value work on "" (Python's Undefined is "").
//  - `reject(test, ...)` / `select(test, ...)` on lists are missing; Llama 3.1 uses reject.

import * as jinja from "@huggingface/jinja";
import { UserError } from "../errors.ts";

/** The parts of the library's runtime values and AST nodes we touch (its classes are not exported). */
interface RuntimeValue {
  type: string;
  value: unknown;
}
interface Node {
  type: string;
  [key: string]: unknown;
}

interface Environment {
  set(name: string, value: unknown): RuntimeValue;
  readonly tests: ReadonlyMap<string, (...values: RuntimeValue[]) => boolean>;
}
interface InterpreterBase {
  run(program: unknown): RuntimeValue;
  evaluate(statement: unknown, environment: Environment): RuntimeValue;
}

// The package's .d.ts files import "./runtime" without an extension, which NodeNext resolution
// cannot follow, so its classes are typed here by the few members we use.
const Environment = jinja.Environment as unknown as new () => Environment;
const Interpreter = jinja.Interpreter as unknown as new (env: Environment) => InterpreterBase;
const Template = jinja.Template as unknown as new (source: string) => { parsed: unknown };

// A node that stands for an already evaluated value, so a rewritten AST never evaluates an
// expression twice.
const VALUE_NODE = "__llamatsValue";

const probe = new Environment();
const ArrayValue = (probe.set("a", []) as unknown as RuntimeValue).constructor as new (
  value: RuntimeValue[],
) => RuntimeValue;
const StringValue = (probe.set("s", "") as unknown as RuntimeValue).constructor as new (value: string) => RuntimeValue;
const isArrayLike = (v: RuntimeValue): v is RuntimeValue & { value: RuntimeValue[] } =>
  v.type === "ArrayValue" || v.type === "TupleValue";
const isNullish = (v: RuntimeValue) => v.type === "NullValue" || v.type === "UndefinedValue";

const SEQUENCE_FILTERS = new Set(["selectattr", "rejectattr", "select", "reject", "map", "list"]);
// Python's Undefined prints as "", so string filters on a missing field (a tool without a
// description) give "" instead of failing.
const STRING_FILTERS = new Set(["trim", "lower", "upper", "title", "capitalize", "replace", "indent", "string"]);

class ChatInterpreter extends Interpreter {
  override evaluate(statement: unknown, environment: Environment): RuntimeValue {
    const node = statement as Node | undefined;
    if (node?.type === VALUE_NODE) return node.value as RuntimeValue;
    if (node?.type === "For") return this.evaluateForLoop(node, environment);
    if (node?.type === "FilterExpression") return this.evaluateFilter(node, environment);
    return super.evaluate(statement, environment);
  }

  private evaluateForLoop(node: Node, environment: Environment): RuntimeValue {
    const iterableNode = node.iterable as Node;
    const isSelect = iterableNode.type === "SelectExpression";
    const source = (isSelect ? iterableNode.lhs : iterableNode) as Node;
    let value = this.evaluate(source, environment) as RuntimeValue;
    if (value.type === "UndefinedValue") value = new ArrayValue([]);
    else if (isArrayLike(value) && value.value.some((x) => x.type === "TupleValue")) {
      value = new ArrayValue(value.value.map((x) => (x.type === "TupleValue" ? new ArrayValue(x.value as RuntimeValue[]) : x)));
    }
    const valueNode: Node = { type: VALUE_NODE, value };
    const iterable = isSelect ? { ...iterableNode, lhs: valueNode } : valueNode;
    return super.evaluate({ ...node, iterable }, environment);
  }

  private evaluateFilter(node: Node, environment: Environment): RuntimeValue {
    const filter = node.filter as Node;
    const name = filter.type === "Identifier" ? filter.value : filter.type === "CallExpression" ? (filter.callee as Node).value : undefined;
    if (typeof name !== "string" || !(SEQUENCE_FILTERS.has(name) || STRING_FILTERS.has(name))) {
      return super.evaluate(node, environment);
    }
    let operand = this.evaluate(node.operand as Node, environment);
    if (STRING_FILTERS.has(name)) {
      if (operand.type === "UndefinedValue") operand = new StringValue("");
      return super.evaluate({ ...node, operand: { type: VALUE_NODE, value: operand } }, environment);
    }
    if (isNullish(operand)) return new ArrayValue([]);
    if ((name === "select" || name === "reject") && isArrayLike(operand)) {
      const args = filter.type === "CallExpression" ? (filter.args as Node[]).map((a) => this.evaluate(a, environment)) : [];
      return new ArrayValue(selectByTest(operand.value, args, name === "select", environment));
    }
    return super.evaluate({ ...node, operand: { type: VALUE_NODE, value: operand } }, environment);
  }
}

function selectByTest(items: RuntimeValue[], args: RuntimeValue[], keep: boolean, environment: Environment): RuntimeValue[] {
  const [testName, ...testArgs] = args;
  let test: (...v: RuntimeValue[]) => boolean;
  if (testName === undefined) {
    test = (v) => (v as unknown as { __bool__(): { value: boolean } }).__bool__().value;
  } else {
    const found = environment.tests.get(String(testName.value));
    if (!found) throw new Error(`Unknown test: ${String(testName.value)}`);
    test = found;
  }
  return items.filter((item) => test(item, ...testArgs) === keep);
}

const DAYS = ["Sunday", "Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday"];
const MONTHS = ["January", "February", "March", "April", "May", "June", "July", "August", "September", "October", "November", "December"];

/** Python's `datetime.strftime` for the C-locale directives templates use; `%-d` drops the padding (glibc). */
export function strftime(date: Date, format: string): string {
  return format.replace(/%(-?)([a-zA-Z%])/g, (whole, noPad: string, code: string) => {
    const pad = (n: number, width = 2) => (noPad ? String(n) : String(n).padStart(width, "0"));
    switch (code) {
      case "Y": return String(date.getFullYear());
      case "y": return pad(date.getFullYear() % 100);
      case "m": return pad(date.getMonth() + 1);
      case "d": return pad(date.getDate());
      case "e": return String(date.getDate()).padStart(2, " ");
      case "H": return pad(date.getHours());
      case "I": return pad(date.getHours() % 12 || 12);
      case "M": return pad(date.getMinutes());
      case "S": return pad(date.getSeconds());
      case "p": return date.getHours() < 12 ? "AM" : "PM";
      case "b": return MONTHS[date.getMonth()]!.slice(0, 3);
      case "B": return MONTHS[date.getMonth()]!;
      case "a": return DAYS[date.getDay()]!.slice(0, 3);
      case "A": return DAYS[date.getDay()]!;
      case "j": {
        const start = new Date(date.getFullYear(), 0, 1);
        return pad(Math.floor((date.getTime() - start.getTime()) / 86_400_000) + 1, 3);
      }
      case "%": return "%";
      default: return whole;
    }
  });
}

function pythonRange(a: number, b?: number, step = 1): number[] {
  if (b === undefined) [a, b] = [0, a];
  if (step === 0) throw new Error("range() arg 3 must not be zero");
  const out: number[] = [];
  for (let i = a; step > 0 ? i < b : i > b; i += step) out.push(i);
  return out;
}

/** Thrown when a template calls raise_exception (e.g. "Conversation roles must alternate…"). */
export class TemplateError extends UserError {
  constructor(message: string) {
    super(message);
    this.name = "TemplateError";
  }
}

export interface RenderOptions {
  /** The clock strftime_now reads (default: now). */
  now?: Date;
}

/** A parsed template, rendered many times. */
export class JinjaTemplate {
  readonly source: string;
  private readonly parsed: unknown;

  constructor(source: string) {
    this.source = source;
    try {
      this.parsed = new Template(source).parsed;
    } catch (e) {
      throw new UserError(`cannot parse chat template: ${(e as Error).message}`);
    }
  }

  render(context: Record<string, unknown>, options: RenderOptions = {}): string {
    const env = new Environment();
    const globals: Record<string, unknown> = {
      true: true, false: false, none: null, True: true, False: false, None: null,
      raise_exception: (message: unknown) => {
        throw new TemplateError(String(message));
      },
      range: pythonRange,
      strftime_now: (format: string) => strftime(options.now ?? new Date(), String(format)),
    };
    for (const [key, value] of Object.entries({ ...globals, ...context })) {
      if (value !== undefined) env.set(key, value);
    }
    try {
      return String(new ChatInterpreter(env).run(this.parsed).value);
    } catch (e) {
      if (e instanceof TemplateError) throw e;
      throw new UserError(`chat template failed: ${(e as Error).message}`);
    }
  }
}
