// A loaded model: weights on a backend, its tokenizer, and one KV cache shared by its sessions.

import { UserError } from "../errors.ts";
import type { ModelFile } from "../format/model-file.ts";
import type { Backend } from "../backend/types.ts";
import { createRefBackend } from "../backend/ref/index.ts";
import { modelConfig, type ModelConfig } from "../model/config.ts";
import { loadWeights, type LoadProgress } from "../model/weights.ts";
import { LlamaModel } from "../model/llama.ts";
import { KvCache } from "../kv/cache.ts";
import { Tokenizer, tokenizerFromMetadata } from "../tokenizer/index.ts";
import { Mutex } from "./mutex.ts";
import { Session } from "./session.ts";
import { generate, type GenerateOptions, type Generation } from "./generate.ts";
import { chat, type ChatOptions, type ChatStream } from "./chat.ts";
import { chatSetup, type ChatSetup } from "./chat-prompt.ts";
import type { ChatMessage } from "../chat/types.ts";

export interface LoadOptions {
  /** KV cache cells (tokens across all sessions). Defaults to min(model context, 4096). */
  readonly contextSize?: number;
  /** Threads for the WASM backend (main thread + workers); default: the machine's cores (the runtime adapter's count). */
  readonly threads?: number;
  /** "wasm" (SIMD kernels, the default), "ref" (plain TS oracle), or a backend instance. */
  readonly backend?: "ref" | "wasm" | Backend;
  /** KV cache storage; llama.cpp's default is f16. */
  readonly kvType?: "f16" | "f32";
  /** Most tokens per forward pass (prompt chunks). */
  readonly batchSize?: number;
  readonly signal?: AbortSignal;
  readonly onProgress?: (p: LoadProgress) => void;
  /**
   * Bytes the model may use. Loading is refused up front, with the estimate, when weights + KV
   * cache + scratch would exceed it (Node's `loadModel` passes the process's available memory).
   */
  readonly availableMemory?: number;
}

/** Bytes a loaded model needs: its weights as stored, the KV cache, and the per-batch scratch. */
export function memoryEstimate(file: ModelFile, config: ModelConfig, contextSize: number, kvType: "f16" | "f32", batchSize: number) {
  const weights = file.tensors.reduce((n, t) => n + t.byteLength, 0);
  const kv = 2 * config.nLayers * contextSize * config.nKvHeads * config.headDim * (kvType === "f16" ? 2 : 4);
  const { dim, ffnDim, nHeads, nKvHeads, headDim, vocabSize } = config;
  const scratch = 4 * (batchSize * (4 * dim + 2 * nHeads * headDim + 2 * nKvHeads * headDim + 2 * ffnDim) + vocabSize);
  return { weights, kv, scratch, total: weights + kv + scratch };
}

export class Model {
  readonly file: ModelFile;
  readonly config: ModelConfig;
  readonly tokenizer: Tokenizer;
  readonly contextSize: number;
  readonly batchSize: number;
  readonly backend: Backend;
  private readonly llama: LlamaModel;
  private readonly kv: KvCache;
  private readonly lock = new Mutex();
  private readonly sessions = new Set<Session>();
  private nextSeq = 0;
  private defaultSession: Session | undefined;
  private chatInfo: ChatSetup | undefined;

  private constructor(file: ModelFile, config: ModelConfig, tokenizer: Tokenizer, backend: Backend, llama: LlamaModel, kv: KvCache) {
    this.file = file;
    this.config = config;
    this.tokenizer = tokenizer;
    this.backend = backend;
    this.llama = llama;
    this.kv = kv;
    this.contextSize = kv.nCells;
    this.batchSize = llama.maxBatch;
  }

  static async load(file: ModelFile, opts: LoadOptions = {}): Promise<Model> {
    const config = modelConfig(file);
    const tokenizer = tokenizerFromMetadata(file.metadata);
    if (tokenizer.vocabSize !== config.vocabSize) {
      throw new UserError(`${file.name}: the vocabulary has ${tokenizer.vocabSize} tokens but token_embd.weight has ${config.vocabSize} rows`);
    }
    const contextSize = opts.contextSize ?? Math.min(config.contextLength, 4096);
    if (!Number.isInteger(contextSize) || contextSize < 1) throw new UserError(`context size ${contextSize} is not a positive integer`);
    const batchSize = Math.min(opts.batchSize ?? 256, contextSize);
    const kvType = opts.kvType ?? "f16";
    const m = memoryEstimate(file, config, contextSize, kvType, batchSize);
    if (opts.availableMemory !== undefined) {
      if (m.total > opts.availableMemory) {
        const gib = (n: number) => (n >= 2 ** 30 ? `${(n / 2 ** 30).toFixed(2)} GiB` : `${(n / 2 ** 20).toFixed(1)} MiB`);
        throw new UserError(
          `${file.name} needs about ${gib(m.total)} (weights ${gib(m.weights)}, KV cache ${gib(m.kv)} for a context of ${contextSize}) ` +
            `but only ${gib(opts.availableMemory)} is available; use a smaller context (-c / contextSize), kvType f16, or a smaller quantization`,
        );
      }
    }
    const backend = await makeBackend(opts, m);
    try {
      const weights = await loadWeights(file, config, backend, opts);
      const llama = new LlamaModel(config, weights, backend, batchSize);
      const kv = new KvCache(backend, {
        nLayers: config.nLayers,
        nCells: contextSize,
        width: config.nKvHeads * config.headDim,
        dtype: kvType,
      });
      return new Model(file, config, tokenizer, backend, llama, kv);
    } catch (e) {
      backend.dispose();
      throw e;
    }
  }

  /** Text → token ids; BOS is added when the vocabulary asks for it unless `addSpecial` is false. */
  tokenize(text: string, opts: { addSpecial?: boolean; parseSpecial?: boolean } = {}): number[] {
    return Array.from(this.tokenizer.encode(text, opts));
  }

  detokenize(ids: ArrayLike<number>): string {
    return this.tokenizer.decode(Array.from(ids));
  }

  createSession(): Session {
    const s = new Session(this, this.nextSeq++);
    this.sessions.add(s);
    return s;
  }

  /** Generate from a prompt on the model's default session (its KV prefix is reused between calls). */
  generate(prompt: string | ArrayLike<number>, opts: GenerateOptions = {}): Generation {
    this.defaultSession ??= this.createSession();
    return generate(this.defaultSession, prompt, opts);
  }

  /**
   * Reply to chat messages on the model's default session, through its chat template (or the
   * fallback format): deltas as they come, or `.result()` for the whole reply. Each turn reuses
   * the KV cache of the conversation so far.
   */
  chat(messages: readonly ChatMessage[], opts: ChatOptions = {}): ChatStream {
    this.defaultSession ??= this.createSession();
    return chat(this.defaultSession, this.chatSetup, messages, opts);
  }

  /** The chat template, fallback format and end-of-turn tokens of this model. */
  get chatSetup(): ChatSetup {
    return (this.chatInfo ??= chatSetup(this));
  }

  get debug() {
    return this.llama.debug;
  }
  set debug(hook) {
    this.llama.debug = hook;
  }

  async dispose(): Promise<void> {
    await this.lock.run(async () => {
      for (const s of [...this.sessions]) s.dispose();
      this.kv.dispose();
      this.llama.dispose();
      this.backend.dispose();
    });
    await this.file.close();
  }

  // --- for sessions ---

  /** Run a batch mixing sequences (the scheduler's entry point); logits for `outputRows`. */
  forwardBatch(tokens: Int32Array, seqIds: Int32Array, outputRows: Int32Array): Promise<Float32Array> {
    return this.lock.run(() => this.llama.forward({ tokens, seqIds, outputRows }, this.kv));
  }

  /** Normalized final hidden states of `outputRows` ([rows × dim]); embeddings use this. */
  forwardHidden(tokens: Int32Array, seqIds: Int32Array, outputRows: Int32Array): Promise<Float32Array> {
    return this.lock.run(() => this.llama.forward({ tokens, seqIds, outputRows, hidden: true }, this.kv));
  }

  /** A sequence id no session uses, for callers (the scheduler) that manage KV sequences themselves. */
  allocateSeqId(): number {
    return this.nextSeq++;
  }

  /** Distinct KV cells held by these sequences. */
  kvCellsOf(seqIds: Iterable<number>): number {
    return this.kv.cellsOf(seqIds);
  }

  kvUsed(): number {
    return this.kv.usedCells;
  }

  kvTruncate(seqId: number, length: number): void {
    this.kv.truncate(seqId, length);
  }

  kvCopy(src: number, dst: number, length: number): void {
    this.kv.copy(src, dst, length);
  }

  releaseSession(s: Session): void {
    this.sessions.delete(s);
    if (this.defaultSession === s) this.defaultSession = undefined;
  }
}

async function makeBackend(opts: LoadOptions, need: { weights: number; kv: number; scratch: number }): Promise<Backend> {
  const b = opts.backend ?? "wasm";
  if (typeof b !== "string") return b;
  if (b === "ref") return createRefBackend();
  if (b === "wasm") {
    const { createWasmBackend } = await import("../backend/wasm/index.ts");
    // The sizes let it spread weights over several wasm memories when they exceed one (4 GiB).
    return createWasmBackend({ threads: opts.threads, weightBytes: need.weights, reserveBytes: need.kv + need.scratch });
  }
  throw new UserError(`unknown backend '${b as string}' (use ref or wasm)`);
}
