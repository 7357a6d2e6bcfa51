// Cost of JSON-schema–constrained decoding: the per-token time of the grammar constraint (token
// checks, vocabulary masks, advancing the matcher, the sampler's rerun on masked logits) as a
// share of the decode time of a token, on the TinyLlama-shape Q4_0 model (32k vocabulary) with a
// nested schema. Random weights want arbitrary tokens, so the sampler's first pick is almost never
// allowed and the mask is needed at nearly every step: the expensive case.
//
//   npx node bench/grammar.ts [-m model.gguf] [--tokens 320] [-t 2] [--json]

import { existsSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { loadModel } from "../src/index.ts";
import { createSampler, type TokenConstraint } from "../src/sample/sampler.ts";
import { createGrammarConstraint } from "../src/sample/grammar/constraint.ts";
import { compileGrammar, parseGbnf } from "../src/sample/grammar/gbnf.ts";
import { GrammarMatcher } from "../src/sample/grammar/matcher.ts";
import { jsonSchemaToGbnf } from "../src/sample/grammar/json-schema.ts";

/** An order record: nested objects, arrays of objects, enums, numbers and bounded strings. */
export const NESTED_SCHEMA = {
  type: "object",
  properties: {
    id: { type: "integer" },
    customer: {
      type: "object",
      properties: {
        name: { type: "string", maxLength: 24 },
        email: { type: "string", maxLength: 32 },
        address: {
          type: "object",
          properties: { street: { type: "string", maxLength: 32 }, city: { type: "string", maxLength: 20 }, zip: { type: "string", maxLength: 10 } },
          required: ["street", "city", "zip"],
        },
      },
      required: ["name", "email", "address"],
    },
    items: {
      type: "array",
      items: {
        type: "object",
        properties: {
          sku: { type: "string", maxLength: 12 },
          qty: { type: "integer" },
          price: { type: "number" },
          status: { enum: ["new", "paid", "shipped", "returned"] },
        },
        required: ["sku", "qty", "price", "status"],
      },
      minItems: 1,
      maxItems: 4,
    },
    tags: { type: "array", items: { type: "string", maxLength: 12 }, maxItems: 5 },
    gift: { type: "boolean" },
    note: { anyOf: [{ type: "string", maxLength: 40 }, { type: "null" }] },
  },
  required: ["id", "customer", "items", "tags", "gift"],
};

export interface GrammarBenchResult {
  model: string;
  threads: number;
  /** Tokens decoded in each mode. */
  tokens: number;
  /** Grammar compile + vocabulary trie (once per grammar / vocabulary). */
  setupMs: number;
  /** Forward pass + unconstrained sampling, per token. */
  decodeMsPerToken: number;
  /** Unconstrained sampling alone, per token. */
  sampleMsPerToken: number;
  /** Sampling with the constraint (checks, masks, rerun) and advancing it, per token. */
  constrainedSampleMsPerToken: number;
  /** Time inside the constraint's own calls, per token. */
  constraintCallsMsPerToken: number;
  /** mask() calls per token (the sampler's first pick was not allowed); repeated states reuse their allowed set. */
  masksPerToken: number;
  /** (constrained sampling − unconstrained sampling) ÷ decode time, in percent. */
  overheadPercent: number;
  /** Completed JSON documents during the constrained run. */
  documents: number;
}

function timedConstraint(inner: TokenConstraint, acc: { ms: number; masks: number }): TokenConstraint {
  return {
    allows(token) {
      const t = performance.now();
      const r = inner.allows(token);
      acc.ms += performance.now() - t;
      return r;
    },
    mask(logits) {
      const t = performance.now();
      inner.mask(logits);
      acc.ms += performance.now() - t;
      acc.masks++;
    },
    accept(token) {
      const t = performance.now();
      inner.accept(token);
      acc.ms += performance.now() - t;
    },
  };
}

async function defaultModel(): Promise<string> {
  // the file `npm run bench` builds; else the serving bench's copy of the same shape
  const cached = join(fileURLToPath(new URL("..", import.meta.url)), ".cache", "bench", "tinyllama-shape-q4_0.gguf");
  if (existsSync(cached)) return cached;
  const { tinyLlamaShape } = await import("./serve.ts");
  return tinyLlamaShape();
}

export async function benchGrammar(opts: { model?: string; tokens?: number; threads?: number } = {}): Promise<GrammarBenchResult> {
  const path = opts.model ?? (await defaultModel());
  // about one whole document of the nested schema with this vocabulary, so every part of it is timed
  const tokens = opts.tokens ?? 320;
  const threads = opts.threads ?? 2;
  const model = await loadModel(path, { backend: "wasm", threads, contextSize: 512 });
  try {
    const tok = model.tokenizer;
    const prompt = model.tokenize("Write the order as JSON:");
    const session = model.createSession();
    const sampling = { temperature: 1, seed: 1 };

    // warm-up: kernels compiled, caches touched
    let logits = (await session.prompt(prompt)).logits;
    for (let i = 0; i < 3; i++) logits = await session.evaluate([createSampler(sampling).sample(logits)]);

    // unconstrained: forward pass and sampling timed apart
    let sampleMs = 0;
    let forwardMs = 0;
    {
      logits = (await session.prompt(prompt)).logits;
      const sampler = createSampler(sampling);
      const history = [...prompt];
      for (let i = 0; i < tokens; i++) {
        const t0 = performance.now();
        const token = sampler.sample(logits, history);
        sampler.accept(token);
        const t1 = performance.now();
        history.push(token);
        logits = await session.evaluate([token]);
        forwardMs += performance.now() - t1;
        sampleMs += t1 - t0;
      }
    }

    const t0 = performance.now();
    const matcher = new GrammarMatcher(compileGrammar(parseGbnf(jsonSchemaToGbnf(NESTED_SCHEMA))));
    createGrammarConstraint(matcher, tok); // builds the vocabulary trie
    const setupMs = performance.now() - t0;

    // constrained: a finished document starts the next one from the same prompt
    const calls = { ms: 0, masks: 0 };
    let constrainedMs = 0;
    let documents = 0;
    let done = 0;
    while (done < tokens) {
      logits = (await session.prompt(prompt)).logits;
      const sampler = createSampler({ ...sampling, seed: 1 + documents, constraint: timedConstraint(createGrammarConstraint(matcher, tok), calls) });
      const history = [...prompt];
      while (done < tokens) {
        const t1 = performance.now();
        const token = sampler.sample(logits, history);
        if (tok.isEog(token)) {
          constrainedMs += performance.now() - t1;
          documents++;
          break;
        }
        sampler.accept(token);
        constrainedMs += performance.now() - t1;
        history.push(token);
        done++;
        if (model.kvUsed() >= model.contextSize) break;
        logits = await session.evaluate([token]);
      }
    }
    const decodeMsPerToken = (forwardMs + sampleMs) / tokens;
    const sampleMsPerToken = sampleMs / tokens;
    const constrainedSampleMsPerToken = constrainedMs / tokens;
    return {
      model: path.split("/").pop()!,
      threads,
      tokens,
      setupMs,
      decodeMsPerToken,
      sampleMsPerToken,
      constrainedSampleMsPerToken,
      constraintCallsMsPerToken: calls.ms / tokens,
      masksPerToken: calls.masks / tokens,
      overheadPercent: (100 * (constrainedSampleMsPerToken - sampleMsPerToken)) / decodeMsPerToken,
      documents,
    };
  } finally {
    await model.dispose();
  }
}

export function formatGrammarBench(r: GrammarBenchResult): string {
  return [
    `JSON-schema mask cost (${r.model}, nested schema, ${r.threads} threads, ${r.tokens} tokens):`,
    `  decode           ${r.decodeMsPerToken.toFixed(1)} ms/token (sampling ${r.sampleMsPerToken.toFixed(2)} ms of it)`,
    `  constrained      sampling ${r.constrainedSampleMsPerToken.toFixed(2)} ms/token, of it constraint calls ${r.constraintCallsMsPerToken.toFixed(2)} ms; ` +
      `${r.masksPerToken.toFixed(2)} masks/token; ${r.documents} documents completed`,
    `  overhead         ${r.overheadPercent.toFixed(2)}% of a token's decode time (target < 10%)`,
    `  setup            ${r.setupMs.toFixed(0)} ms once (grammar compile + vocabulary trie)`,
  ].join("\n");
}

if (import.meta.main) {
  const { values } = parseArgs({
    options: {
      model: { type: "string", short: "m" },
      tokens: { type: "string", default: "320" },
      threads: { type: "string", short: "t", default: "2" },
      json: { type: "boolean", default: false },
    },
  });
  const r = await benchGrammar({ model: values.model, tokens: Number(values.tokens), threads: Number(values.threads) });
  process.stdout.write((values.json ? JSON.stringify(r, null, 2) : formatGrammarBench(r)) + "\n");
}
