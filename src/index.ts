// The public API of llamats.
//
//   const llm = await loadModel("model.gguf", { contextSize: 4096 });
//   for await (const c of llm.generate("Once upon a time", { maxTokens: 64 })) process.stdout.write(c.text);

import type { RandomAccessSource } from "./format/source.ts";
import { BlobSource } from "./format/source.ts";
import type { ModelFile } from "./format/model-file.ts";
import { readGguf } from "./format/gguf.ts";
import { Model, type LoadOptions } from "./engine/model.ts";

export { Model, type LoadOptions } from "./engine/model.ts";
export { Session } from "./engine/session.ts";
export type { GenerateOptions, Generation, GenerationChunk, GenerationStats, FinishReason } from "./engine/generate.ts";
export { chat } from "./engine/chat.ts";
export type { ChatOptions, ChatStream, ChatDelta, ChatCompletion, ChatFinishReason, ChatUsage, ToolChoice } from "./engine/chat.ts";
export type { ChatSetup } from "./engine/chat-prompt.ts";
export type { ResponseFormat } from "./engine/constraints.ts";
export type { ChatMessage, ContentPart, Tool, ToolCall, ToolFunction } from "./chat/types.ts";
export type { TokenLogprobs, TopLogprob } from "./sample/logprobs.ts";
export type { SamplerParams } from "./sample/sampler.ts";
export type { ModelConfig } from "./model/config.ts";
export type { ModelFile, TensorInfo, MetaValue } from "./format/model-file.ts";
export type { RandomAccessSource } from "./format/source.ts";
export { BytesSource, BlobSource } from "./format/source.ts";
export { readGguf } from "./format/gguf.ts";
export { UserError } from "./errors.ts";

/**
 * Load a model from a path (Node: a GGUF file, the first part of a split GGUF, or a Hugging Face
 * folder), a `Blob`/`File`, a random-access source, or an already opened model file.
 */
export async function loadModel(from: string | Blob | RandomAccessSource | ModelFile, opts: LoadOptions = {}): Promise<Model> {
  let file: ModelFile;
  if (typeof from === "string") {
    // Kept out of the static import graph so that browser bundles never see node: modules.
    const nodeOpen = "./node/open.ts";
    const { openModelFile } = (await import(nodeOpen)) as typeof import("./node/open.ts");
    file = await openModelFile(from);
    // Node knows how much memory the process may still use (cgroup limits included).
    const proc = (globalThis as { process?: { availableMemory?: () => number } }).process;
    if (opts.availableMemory === undefined && proc?.availableMemory) opts = { ...opts, availableMemory: proc.availableMemory() };
  } else if (typeof Blob !== "undefined" && from instanceof Blob) {
    file = await readGguf(new BlobSource(from));
  } else if ("readTensor" in from) {
    file = from;
  } else {
    file = await readGguf(from as RandomAccessSource);
  }
  try {
    return await Model.load(file, opts);
  } catch (e) {
    await file.close();
    throw e;
  }
}
