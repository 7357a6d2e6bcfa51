// The server as a web-standard `fetch(Request) → Response` handler (hono routes it). It exists
// before the model does: /health answers 503 while loading, so a router sends no traffic yet.

import { Hono, type Context } from "hono";
import { cors } from "hono/cors";
import { ApiError, errorResponse } from "./errors.ts";
import { ServerMetrics } from "./metrics.ts";
import { chatCompletions, completions, embeddings, type Engine } from "./openai.ts";
import { chatRequest, completionRequest, detokenizeRequest, embeddingRequest, tokenizeRequest, validate } from "./schemas.ts";
import { assetResponse, ISOLATION_HEADERS, modelFileResponse, type StaticAssets } from "./page.ts";

export interface ServerOptions {
  /** The name reported by /v1/models and accepted in `model`. */
  readonly modelId: string;
  /** Other names `model` may carry (the file's path, its name). */
  readonly modelAliases?: readonly string[];
  /** Clients must send `Authorization: Bearer <apiKey>`. */
  readonly apiKey?: string;
  /** Largest request body (default 16 MiB). */
  readonly maxBodyBytes?: number;
  /** The chat page's built files; `/` serves its index.html when given. */
  readonly assets?: StaticAssets;
  /** Serve the loaded GGUF at /model.gguf (with Range) so the page can run it in the browser (default true). */
  readonly modelDownload?: boolean;
}

export interface LlamaServer {
  fetch(request: Request): Promise<Response>;
  /** The model is loaded: start serving. */
  ready(engine: Engine): void;
  /** Loading failed: /health reports it. */
  failed(message: string): void;
  readonly metrics: ServerMetrics;
  readonly engine: Engine | undefined;
}

const DEFAULT_MAX_BODY = 16 * 2 ** 20;

export function createServer(opts: ServerOptions): LlamaServer {
  let engine: Engine | undefined;
  let loadError: string | undefined;
  const metrics = new ServerMetrics(opts.modelId, () => engine);
  const maxBody = opts.maxBodyBytes ?? DEFAULT_MAX_BODY;
  const names = new Set([opts.modelId, ...(opts.modelAliases ?? [])]);

  const need = (): Engine => {
    if (engine) return engine;
    throw new ApiError(503, loadError ? `the model failed to load: ${loadError}` : "the model is loading", { code: "model_loading" });
  };

  const checkModel = (model: string | null | undefined) => {
    if (model && !names.has(model)) {
      throw new ApiError(404, `The model '${model}' does not exist (this server has '${opts.modelId}')`, { param: "model", code: "model_not_found" });
    }
  };

  const app = new Hono();

  app.use("*", async (c, next) => {
    await next();
    metrics.httpRequests.inc(1, { status: String(c.res.status) });
  });
  app.use("/v1/*", cors({ origin: "*", allowHeaders: ["authorization", "content-type"], maxAge: 86400 }));
  app.use("*", async (c, next) => {
    const path = c.req.path;
    const open = path === "/" || path.startsWith("/static/") || path === "/health" || path === "/metrics" || c.req.method === "OPTIONS";
    if (opts.apiKey !== undefined && !open) {
      const auth = c.req.header("authorization") ?? "";
      const key = /^Bearer\s+(.+)$/i.exec(auth)?.[1]?.trim();
      if (key !== opts.apiKey) {
        throw new ApiError(401, key ? "Incorrect API key provided" : "Missing API key: send 'Authorization: Bearer <key>'", { code: "invalid_api_key" });
      }
    }
    await next();
  });

  app.get("/", async (c) => {
    const page = await assetResponse(opts.assets, "index.html", c.req.method === "HEAD");
    if (page) return page;
    // Cross-origin isolation, so a page served here may use SharedArrayBuffer (threaded WASM).
    for (const [k, v] of Object.entries(ISOLATION_HEADERS)) c.header(k, v);
    return c.text(`llamats server: ${opts.modelId}\nOpenAI API under /v1 (chat/completions, completions, embeddings, models)\n`);
  });

  app.get("/static/:file", async (c) => {
    const file = c.req.param("file");
    const res = await assetResponse(opts.assets, file, c.req.method === "HEAD");
    if (!res) throw new ApiError(404, `no page asset '${file}'`, { code: "unknown_route" });
    return res;
  });

  app.on(["GET", "HEAD"], "/model.gguf", async (c) => {
    const res = opts.modelDownload === false ? undefined : await modelFileResponse(c.req.raw, need());
    if (!res) throw new ApiError(404, "this server does not offer its model file for download", { code: "unknown_route" });
    return res;
  });

  app.get("/health", (c) => {
    if (engine) return c.json({ status: "ok" });
    if (loadError) return c.json({ status: "error", error: loadError }, 503);
    return c.json({ status: "loading" }, 503);
  });

  app.get("/metrics", (c) => c.body(metrics.render(), 200, { "content-type": "text/plain; version=0.0.4; charset=utf-8" }));

  app.get("/v1/models", (c) => {
    const e = need();
    return c.json({ object: "list", data: [modelCard(e)] });
  });

  app.get("/v1/models/:model{.+}", (c) => {
    const e = need();
    const name = c.req.param("model");
    if (!names.has(name)) throw new ApiError(404, `The model '${name}' does not exist`, { param: "model", code: "model_not_found" });
    return c.json(modelCard(e));
  });

  app.post("/v1/chat/completions", async (c) => {
    const body = validate(chatRequest, await readJson(c, maxBody));
    checkModel(body.model);
    return chatCompletions(need(), body, c.req.raw.signal);
  });

  app.post("/v1/completions", async (c) => {
    const body = validate(completionRequest, await readJson(c, maxBody));
    checkModel(body.model);
    return completions(need(), body, c.req.raw.signal);
  });

  app.post("/v1/embeddings", async (c) => {
    const body = validate(embeddingRequest, await readJson(c, maxBody));
    checkModel(body.model);
    return embeddings(need(), body, c.req.raw.signal);
  });

  app.post("/tokenize", async (c) => {
    const body = validate(tokenizeRequest, await readJson(c, maxBody));
    checkModel(body.model);
    const e = need();
    const text = body.content ?? body.prompt;
    if (text === undefined) throw new ApiError(400, "give the text as 'content'", { param: "content" });
    const tok = e.model.tokenizer;
    const ids = Array.from(tok.encode(text, { addSpecial: body.add_special ?? true, parseSpecial: body.parse_special ?? true }));
    const tokens = body.with_pieces ? ids.map((id) => ({ id, piece: tok.tokenToPiece(id) })) : ids;
    return c.json({ tokens, count: ids.length, max_model_len: e.scheduler.slotContext });
  });

  app.post("/detokenize", async (c) => {
    const body = validate(detokenizeRequest, await readJson(c, maxBody));
    checkModel(body.model);
    const e = need();
    const vocab = e.model.config.vocabSize;
    const bad = body.tokens.find((t) => t >= vocab);
    if (bad !== undefined) throw new ApiError(400, `token id ${bad} is out of range (vocabulary of ${vocab})`, { param: "tokens" });
    return c.json({ content: e.model.tokenizer.decode(body.tokens) });
  });

  app.notFound((c) => errorResponse(new ApiError(404, `no route for ${c.req.method} ${c.req.path}`, { code: "unknown_route" })));
  app.onError((err) => errorResponse(err));

  return {
    fetch: async (request) => {
      try {
        return await app.fetch(request);
      } catch (e) {
        return errorResponse(e);
      }
    },
    ready(e) {
      engine = e;
    },
    failed(message) {
      loadError = message;
    },
    metrics,
    get engine() {
      return engine;
    },
  };
}

function modelCard(e: Engine) {
  return {
    id: e.modelId,
    object: "model",
    created: e.created,
    owned_by: "llamats",
    max_model_len: e.scheduler.slotContext,
  };
}

/** The body as JSON, refusing more than `limit` bytes before reading them all. */
async function readJson(c: Context, limit: number): Promise<unknown> {
  const declared = c.req.header("content-length");
  if (declared !== undefined && Number(declared) > limit) throw tooLarge(Number(declared), limit);
  const stream = c.req.raw.body;
  if (!stream) throw new ApiError(400, "the request has no body; send a JSON object");
  const reader = stream.getReader();
  const parts: Uint8Array[] = [];
  let size = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    size += value.length;
    if (size > limit) {
      void reader.cancel().catch(() => {});
      throw tooLarge(size, limit);
    }
    parts.push(value);
  }
  const bytes = new Uint8Array(size);
  let at = 0;
  for (const p of parts) {
    bytes.set(p, at);
    at += p.length;
  }
  let text: string;
  try {
    text = new TextDecoder("utf-8", { fatal: true }).decode(bytes);
  } catch {
    throw new ApiError(400, "the body is not valid UTF-8");
  }
  try {
    return JSON.parse(text);
  } catch (e) {
    throw new ApiError(400, `malformed JSON body: ${(e as Error).message}`);
  }
}

function tooLarge(size: number, limit: number): ApiError {
  return new ApiError(413, `the request body has ${size} bytes; the limit is ${limit}`, { code: "request_too_large" });
}
