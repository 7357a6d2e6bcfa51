// `llamats serve`: an OpenAI-compatible HTTP server with continuous batching, prefix caching and
// Prometheus metrics.

import { Option, type Command } from "commander";
import { serveModel } from "../node/http-llama.ts";
import { addModelOptions, intArg, type ModelFlags } from "./options.ts";
import { loadOptions } from "./common.ts";

interface ServeFlags extends ModelFlags {
  host: string;
  port: number;
  parallel: number;
  maxQueue: number;
  apiKey?: string;
  alias?: string;
}

export function register(program: Command): void {
  const cmd = program
    .command("serve")
    .description("serve a model over an OpenAI-compatible HTTP API (/v1/chat/completions, /v1/completions, /v1/embeddings, /metrics)")
    .option("--host <addr>", "address to listen on", "127.0.0.1")
    .option("--port <n>", "port (0 picks a free one)", intArg("--port", 0), 8080)
    .option("--parallel <n>", "sequences decoded together; each gets ctx-size / n of the KV cache", intArg("--parallel", 1), 1)
    .option("--max-queue <n>", "requests that may wait for a slot before the server answers 503", intArg("--max-queue", 0), 64)
    .addOption(new Option("--api-key <key>", "require 'Authorization: Bearer <key>'").env("LLAMATS_API_KEY"))
    .option("-a, --alias <name>", "model name reported to and accepted from clients (default: the file's name)");
  addModelOptions(cmd);
  cmd.addHelpText(
    "after",
    `\nExample:\n  llamats serve -m models/stories260K.gguf --port 8080 --parallel 4\n` +
      `  curl http://127.0.0.1:8080/v1/chat/completions -H 'content-type: application/json' \\\n` +
      `    -d '{"messages":[{"role":"user","content":"Tell me a story"}],"max_tokens":64}'\n`,
  );
  cmd.action(async (flags: ServeFlags) => {
    const serving = await serveModel({
      model: flags.model,
      host: flags.host,
      port: flags.port,
      parallel: flags.parallel,
      maxQueue: flags.maxQueue,
      apiKey: flags.apiKey,
      alias: flags.alias,
      ...loadOptions(flags),
    });
    process.stderr.write(`llamats: listening on ${serving.url} (loading ${flags.model})\n`);
    let stopping = false;
    const stop = () => {
      if (stopping) process.exit(130);
      stopping = true;
      process.stderr.write("llamats: shutting down\n");
      void serving.close().then(() => process.exit(0));
    };
    process.on("SIGINT", stop);
    process.on("SIGTERM", stop);
    try {
      const model = await serving.loaded;
      process.stderr.write(`llamats: ready: ${model.config.nLayers} layers, context ${model.contextSize} over ${flags.parallel} slot(s)\n`);
    } catch (e) {
      await serving.close();
      throw e;
    }
  });
}
