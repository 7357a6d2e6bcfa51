// The chat page's files for the server, read from build/web/ (made by `npm run build:web`). Read
// on each request, so a rebuild shows up without restarting the server.

import { readFile } from "node:fs/promises";
import type { StaticAsset, StaticAssets } from "../server/page.ts";
import { ASSET_NAME } from "../server/page.ts";

const TYPES: Record<string, string> = {
  html: "text/html; charset=utf-8",
  js: "text/javascript; charset=utf-8",
  css: "text/css; charset=utf-8",
  wasm: "application/wasm",
  map: "application/json",
  svg: "image/svg+xml",
};

export const defaultWebDir = new URL("../../build/web/", import.meta.url);

export function dirAssets(dir: URL = defaultWebDir): StaticAssets {
  return {
    async get(name: string): Promise<StaticAsset | undefined> {
      // Plain names only: no separators, no dot-files, so nothing outside the folder is reachable.
      if (!ASSET_NAME.test(name)) return undefined;
      const type = TYPES[name.slice(name.lastIndexOf(".") + 1)];
      if (!type) return undefined;
      try {
        return { bytes: new Uint8Array(await readFile(new URL(name, dir))), type };
      } catch {
        return undefined;
      }
    },
  };
}
