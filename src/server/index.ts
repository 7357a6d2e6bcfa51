// The OpenAI-compatible server: a fetch handler plus the engine it serves.

import type { Model } from "../engine/model.ts";
import { Scheduler, type SchedulerObserver } from "../engine/scheduler.ts";
import { chatSetup } from "../engine/chat-prompt.ts";
import type { Engine } from "./openai.ts";

export { createServer, type LlamaServer, type ServerOptions } from "./app.ts";
export type { Engine } from "./openai.ts";

export interface EngineOptions {
  readonly modelId: string;
  readonly parallel?: number;
  readonly maxQueue?: number;
  readonly observer?: SchedulerObserver;
}

export function createEngine(model: Model, opts: EngineOptions): Engine {
  return {
    model,
    scheduler: new Scheduler(model, { parallel: opts.parallel, maxQueue: opts.maxQueue, observer: opts.observer }),
    modelId: opts.modelId,
    chat: chatSetup(model),
    created: Math.floor(Date.now() / 1000),
  };
}
