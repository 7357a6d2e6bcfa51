// Sampling: the llama.cpp chain, logprobs, stop strings, grammar constraints.
export { createSampler, resolveSamplerParams, SAMPLER_DEFAULTS, type Sampler, type SamplerParams, type ResolvedSamplerParams, type TokenConstraint } from "./sampler.ts";
export { tokenLogprobs, logSumExp, MAX_TOP_LOGPROBS, type TokenLogprobs, type TopLogprob } from "./logprobs.ts";
export { StopStringMatcher, type StopResult } from "./stop.ts";
export { Mt19937, randomSeed } from "./rng.ts";
export { parseGbnf, compileGrammar, GrammarError } from "./grammar/gbnf.ts";
export { GrammarMatcher } from "./grammar/matcher.ts";
export { createGrammarConstraint, type GrammarConstraint, type GrammarVocab } from "./grammar/constraint.ts";
export { jsonSchemaToGbnf, jsonObjectGbnf, gbnfLiteral } from "./grammar/json-schema.ts";
