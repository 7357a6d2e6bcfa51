// Where the shared test fixtures live: $LLAMATS_FIXTURES if set, else `shared/fixtures` beside the
// repository (../shared/fixtures from its root). A missing folder fails loudly, never silently.

import { existsSync } from "node:fs";
import { resolve } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";

const repo = fileURLToPath(new URL("..", import.meta.url));
const dir = resolve(process.env.LLAMATS_FIXTURES ?? resolve(repo, "../shared/fixtures"));
if (!existsSync(resolve(dir, "SOURCES.md"))) {
  throw new Error(`test fixtures not found at ${dir}: set LLAMATS_FIXTURES to the shared/fixtures folder`);
}

/** Absolute path of the fixtures folder, with a trailing slash. */
export const FIXTURES = dir.endsWith("/") ? dir : `${dir}/`;
/** The same folder as a file: URL (for `new URL("models/x.gguf", FIXTURES_URL)`). */
export const FIXTURES_URL = pathToFileURL(FIXTURES);
