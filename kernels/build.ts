// Compiles the AssemblyScript kernels twice — relaxed SIMD and plain SIMD128 — into build/wasm/.
// Run by `npm run build:wasm` (and `npm ci` through `prepare`). No network, a few seconds.

import { mkdirSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import asc from "assemblyscript/asc";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const outDir = join(root, "build", "wasm");
mkdirSync(outDir, { recursive: true });

const common = [
  join(root, "kernels", "index.ts"),
  "-O3", "--noAssert", "--runtime", "stub", "--importMemory", "--sharedMemory",
  // The TS side's memory must declare the same maximum (4 GiB of wasm32).
  "--initialMemory", "1", "--maximumMemory", "65536",
  "--enable", "simd", "--enable", "threads", "--enable", "bulk-memory", "--enable", "nontrapping-f2i",
];
const variants: [string, string[]][] = [
  ["kernels-relaxed.wasm", ["--enable", "relaxed-simd"]],
  ["kernels-simd.wasm", []],
];
for (const [name, extra] of variants) {
  const { error, stderr } = await asc.main([...common, ...extra, "-o", join(outDir, name)]);
  if (error) {
    process.stderr.write(stderr.toString());
    throw error;
  }
}
process.stdout.write(`kernels built into ${outDir}\n`);
