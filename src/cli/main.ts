// The `llamats` command line. Each command lives in its own module and registers itself here;
// flags follow llama.cpp's names where one exists.

import { Command, CommanderError } from "commander";
import { isUserError } from "../errors.ts";
import { normalizeArgv } from "./argv.ts";

const commands: Array<() => Promise<{ register(program: Command): void }>> = [
  () => import("./inspect.ts"),
  () => import("./run.ts"),
  () => import("./perplexity.ts"),
  () => import("./tokenize.ts"),
  () => import("./serve.ts"),
  () => import("./chat.ts"),
  () => import("./quantize.ts"),
  () => import("./convert.ts"),
  () => import("./bench.ts"),
];

async function main(argv: string[]): Promise<void> {
  const program = new Command("llamats")
    .description("Llama models in TypeScript: inspect, tokenize, run, chat and serve GGUF models")
    .showHelpAfterError("hint: add --help to see the options and an example")
    .option("--verbose", "show the stack trace of errors")
    .exitOverride();
  for (const load of commands) (await load()).register(program);
  await program.parseAsync(argv);
}

main(normalizeArgv(process.argv)).catch((e: unknown) => {
  if (e instanceof CommanderError) {
    // Usage errors (unknown option, missing argument, bad choice) exit 2, as getopt tools do.
    process.exitCode = e.exitCode === 0 ? 0 : 2;
    return;
  }
  if (isUserError(e)) {
    process.stderr.write(`llamats: ${e.message}\n`);
    if (process.argv.includes("--verbose") && e.stack) process.stderr.write(`${e.stack}\n`);
    process.exitCode = 1;
    return;
  }
  throw e;
});
