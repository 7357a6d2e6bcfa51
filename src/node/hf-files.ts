// Node adapter for Hugging Face model folders: gives src/format/hf.ts its files by name.

import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { UserError } from "../errors.ts";
import { readHfFolder, type FolderFiles } from "../format/hf.ts";
import type { ModelFile } from "../format/model-file.ts";
import type { RandomAccessSource } from "../format/source.ts";
import { FileSource } from "./file-source.ts";

function isMissing(e: unknown): boolean {
  const code = (e as NodeJS.ErrnoException).code;
  return code === "ENOENT" || code === "ENOTDIR";
}

function checkName(dir: string, name: string): string {
  // Names come from index.json too; keep every read inside the folder.
  if (name.length === 0 || name === "." || name === ".." || /[\/\\\0]/.test(name)) {
    throw new UserError(`${dir}: refusing to open "${name}", which is not a plain file name`);
  }
  return join(dir, name);
}

/** The files of folder `dir`. */
export function nodeFolderFiles(dir: string): FolderFiles {
  return {
    async open(name: string): Promise<RandomAccessSource | undefined> {
      const path = checkName(dir, name);
      try {
        return await FileSource.open(path);
      } catch (e) {
        if (isMissing(e)) return undefined;
        const code = (e as NodeJS.ErrnoException).code;
        if (code === "EISDIR" || code === "EACCES" || code === "EPERM") throw new UserError(`${path}: cannot open (${code})`);
        throw e;
      }
    },
    async readText(name: string): Promise<string | undefined> {
      const path = checkName(dir, name);
      try {
        return await readFile(path, "utf8");
      } catch (e) {
        if (isMissing(e)) return undefined;
        const code = (e as NodeJS.ErrnoException).code;
        if (code === "EISDIR" || code === "EACCES" || code === "EPERM") throw new UserError(`${path}: cannot read (${code})`);
        throw e;
      }
    },
  };
}

/** Opens a Hugging Face model folder (config.json + safetensors + tokenizer files). */
export function openHfFolder(dir: string): Promise<ModelFile> {
  return readHfFolder(nodeFolderFiles(dir), dir);
}
