// Opens whatever the user points at — a GGUF file, one part of a split GGUF, or a Hugging Face
// model folder — as a ModelFile.

import { stat } from "node:fs/promises";
import { basename, dirname, join } from "node:path";
import { UserError } from "../errors.ts";
import { readGguf } from "../format/gguf.ts";
import { parseSplitName, readSplitGguf, splitPartName } from "../format/gguf-split.ts";
import type { ModelFile } from "../format/model-file.ts";
import { FileSource } from "./file-source.ts";
import { openHfFolder } from "./hf-files.ts";

async function statOrThrow(path: string) {
  try {
    return await stat(path);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === "ENOENT" || code === "ENOTDIR") throw new UserError(`${path}: no such file or directory`);
    if (code === "EACCES" || code === "EPERM") throw new UserError(`${path}: permission denied`);
    throw e;
  }
}

async function openSource(path: string): Promise<FileSource> {
  await statOrThrow(path);
  try {
    return await FileSource.open(path);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === "EISDIR" || code === "EACCES" || code === "EPERM") throw new UserError(`${path}: cannot open (${code})`);
    throw e;
  }
}

/** Opens a model path: `.gguf` (all parts when it is named `*-0000N-of-0000M.gguf`) or a folder. */
export async function openModelFile(path: string): Promise<ModelFile> {
  const st = await statOrThrow(path);
  if (st.isDirectory()) return openHfFolder(path);
  const split = parseSplitName(basename(path));
  if (!split || split.count <= 1) {
    const src = await openSource(path);
    try {
      return await readGguf(src);
    } catch (e) {
      await src.close();
      throw e;
    }
  }
  const dir = dirname(path);
  const sources: FileSource[] = [];
  try {
    for (let no = 1; no <= split.count; no++) {
      const part = join(dir, splitPartName(split.prefix, no, split.count));
      await statOrThrow(part).catch(() => {
        throw new UserError(`${part}: part ${no} of ${split.count} of the split model is missing`);
      });
      sources.push(await openSource(part));
    }
  } catch (e) {
    await Promise.all(sources.map((s) => s.close()));
    throw e;
  }
  // readSplitGguf closes the sources itself when it fails.
  return readSplitGguf(sources);
}
