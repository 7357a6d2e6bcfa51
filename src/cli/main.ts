// The `llamats` command line. Each command lives in its own module and registers itself here;
// flags follow llama.cpp's names where one exists.

import { Command, CommanderError } from "commander";
import { isUserError } from "../errors.ts";

const commands: Array<() => Promise<{ register(program: Command): void }>> = [
  () => import("./inspect.ts"),
  () => import("./run.ts"),
  () => import("./perplexity.ts"),
  () => import("./tokenize.ts"),
  () => import("./serve.ts"),
];

async function main(argv: string[]): Promise<void> {
  const program = new Command("llamats")
    .description("Llama models in TypeScript: inspect, tokenize, run, chat and serve GGUF models")
    .showHelpAfterError()
    .exitOverride();
  for (const load of commands) (await load()).register(program);
  await program.parseAsync(argv);
}

main(process.argv).catch((e: unknown) => {
  if (e instanceof CommanderError) {
    process.exitCode = e.exitCode;
    return;
  }
  if (isUserError(e)) {
    process.stderr.write(`llamats: ${e.message}\n`);
    process.exitCode = 1;
    return;
  }
  throw e;
});
