// `llamats serve` as a function: listen first (so /health says 503 while loading), then load the
// model and start serving. Tests start it on port 0 and stop it themselves.

import { loadModel, type LoadOptions, type Model } from "../index.ts";
import { createEngine, createServer, type LlamaServer } from "../server/index.ts";
import { serveFetch, type RunningServer } from "./http-server.ts";
import { dirAssets } from "./web-assets.ts";

export interface ServeModelOptions extends Omit<LoadOptions, "signal"> {
  readonly model: string;
  readonly host?: string;
  readonly port?: number;
  readonly parallel?: number;
  readonly maxQueue?: number;
  readonly apiKey?: string;
  /** The name clients use (default: the file's name). */
  readonly alias?: string;
  readonly maxBodyBytes?: number;
}

export interface ServingModel {
  readonly http: RunningServer;
  readonly server: LlamaServer;
  readonly url: string;
  /** Settles once the model is loaded (rejects when loading fails; the server keeps answering 503). */
  readonly loaded: Promise<Model>;
  close(): Promise<void>;
}

export async function serveModel(opts: ServeModelOptions): Promise<ServingModel> {
  const file = opts.model.replace(/[\\/]+$/, "").split(/[\\/]/).pop() ?? opts.model;
  const modelId = opts.alias ?? file;
  const server = createServer({ modelId, modelAliases: [file, opts.model], apiKey: opts.apiKey, maxBodyBytes: opts.maxBodyBytes, assets: dirAssets() });
  const http = await serveFetch(server.fetch, { host: opts.host, port: opts.port });
  const ac = new AbortController();
  const { model: _, host: _h, port: _p, parallel, maxQueue, apiKey: _k, alias: _a, maxBodyBytes: _m, ...load } = opts;
  const loaded = loadModel(opts.model, { ...load, signal: ac.signal }).then((model) => {
    server.ready(createEngine(model, { modelId, parallel, maxQueue, observer: server.metrics.observer }));
    return model;
  });
  loaded.catch((e: unknown) => server.failed(e instanceof Error ? e.message : String(e)));
  return {
    http,
    server,
    url: http.url,
    loaded,
    async close() {
      ac.abort();
      server.engine?.scheduler.close();
      await http.close();
      const model = await loaded.catch(() => undefined);
      await model?.dispose();
    },
  };
}
