// `llamats inspect FILE [--json]`: what is in a model file — metadata (long arrays abbreviated)
// and the tensor table with totals — for GGUF, split GGUF and Hugging Face folders.

import type { Command } from "commander";
import { ggmlTypeName } from "../format/ggml.ts";
import { GgufFile, GgufValueType, ggufValueTypeName } from "../format/gguf.ts";
import type { GgufType } from "../format/gguf.ts";
import { SplitGguf } from "../format/gguf-split.ts";
import type { MetaValue, ModelFile, TensorInfo } from "../format/model-file.ts";
import { openModelFile } from "../node/open.ts";

export function register(program: Command): void {
  program
    .command("inspect")
    .description("print the metadata and tensor table of a model file")
    .argument("<file>", "GGUF file, any part of a split GGUF, or a Hugging Face model folder")
    .option("--json", "print one JSON object instead of text", false)
    .addHelpText("after", `\nExamples:\n  llamats inspect models/stories260K.gguf\n  llamats inspect model-00001-of-00003.gguf --json | jq '.tensors | length'\n`)
    .action(async (file: string, flags: { json: boolean }) => {
      const model = await openModelFile(file);
      try {
        await writeOut(flags.json ? `${JSON.stringify(inspectJson(model))}\n` : inspectText(model));
      } finally {
        await model.close();
      }
    });
}

function writeOut(s: string): Promise<void> {
  return new Promise((resolve, reject) => {
    process.stdout.write(s, (e) => (e && (e as NodeJS.ErrnoException).code !== "EPIPE" ? reject(e) : resolve()));
  });
}

function typesOf(m: ModelFile): ReadonlyMap<string, GgufType> | undefined {
  return m instanceof GgufFile || m instanceof SplitGguf ? m.metadataTypes : undefined;
}

/** Tensor offset within its file (GGUF: relative to the data section, as stored) and its part. */
function placement(m: ModelFile, t: TensorInfo): { offset: number | null; part?: number } {
  if (m instanceof SplitGguf) {
    const p = m.partOf(t.name);
    return { offset: (t as { offset?: number }).offset ?? null, part: p ? m.parts.indexOf(p) + 1 : undefined };
  }
  const o = (t as { offset?: unknown }).offset;
  return { offset: typeof o === "number" ? o : null };
}

function jsonValue(v: MetaValue): unknown {
  if (typeof v === "bigint") return v >= BigInt(Number.MIN_SAFE_INTEGER) && v <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(v) : v.toString();
  if (Array.isArray(v)) return v.map(jsonValue);
  return v;
}

export function inspectJson(m: ModelFile): unknown {
  const metadata: Record<string, unknown> = {};
  for (const [k, v] of m.metadata) metadata[k] = jsonValue(v);
  const header = m instanceof GgufFile ? { version: m.version, alignment: m.alignment, dataOffset: m.dataOffset }
    : m instanceof SplitGguf ? { version: m.parts[0]!.version, parts: m.parts.map((p) => ({ name: p.name, tensors: p.tensors.length, dataOffset: p.dataOffset })) }
    : {};
  return {
    format: m.format,
    name: m.name,
    ...header,
    metadata,
    tensors: m.tensors.map((t) => ({ name: t.name, type: ggmlTypeName(t.type), shape: t.shape, ...placement(m, t), bytes: t.byteLength })),
    bytes: m.tensors.reduce((a, t) => a + t.byteLength, 0),
    parameters: m.tensors.reduce((a, t) => a + t.elements, 0),
  };
}

/** The shortest decimal that reads back as the same f32 (1e-5, not 0.000009999999747378752). */
function f32Text(v: number): string {
  for (let p = 1; p <= 9; p++) {
    const d = Number(v.toPrecision(p));
    if (Math.fround(d) === v) return String(d);
  }
  return String(v);
}

function typeLabel(t: GgufType | undefined, v: MetaValue): string {
  if (!t) return Array.isArray(v) ? "array" : typeof v === "number" ? "number" : typeof v;
  if (t.type !== GgufValueType.ARRAY) return ggufValueTypeName(t.type);
  return `[${ggufValueTypeName(t.arrayType ?? GgufValueType.ARRAY)}]`;
}

function shortString(s: string, max = 60): string {
  const q = JSON.stringify(s.length > max ? s.slice(0, max) : s);
  return s.length > max ? `${q.slice(0, -1)}…" (${s.length} chars)` : q;
}

function scalarText(v: MetaValue): string {
  if (typeof v === "string") return shortString(v);
  if (Array.isArray(v)) return showValue(v);
  return String(v);
}

/** Values as one line; arrays longer than 8 show their size, kind and first 3 elements. */
export function showValue(v: MetaValue): string {
  if (!Array.isArray(v)) return scalarText(v);
  if (v.length <= 8) return `[${v.map(scalarText).join(", ")}]`;
  const first = v[0];
  const kind = typeof first === "string" ? "strings" : Array.isArray(first) ? "arrays" : typeof first === "boolean" ? "bools" : "numbers";
  return `[${v.length} ${kind}: ${v.slice(0, 3).map(scalarText).join(", ")}, ... ]`;
}

const num = (n: number) => n.toLocaleString("en-US");

function humanBytes(n: number): string {
  if (n < 1024) return `${n} B`;
  const units = ["KiB", "MiB", "GiB", "TiB"];
  let x = n / 1024;
  let u = 0;
  while (x >= 1024 && u < units.length - 1) {
    x /= 1024;
    u++;
  }
  return `${x.toFixed(x < 10 ? 2 : 1)} ${units[u]}`;
}

function table(rows: string[][], rightAligned: Set<number>): string[] {
  const widths = rows[0]!.map((_, c) => Math.max(...rows.map((r) => r[c]!.length)));
  return rows.map((r) => r.map((cell, c) => (rightAligned.has(c) ? cell.padStart(widths[c]!) : cell.padEnd(widths[c]!))).join("  ").trimEnd());
}

export function inspectText(m: ModelFile): string {
  const out: string[] = [m.name];
  if (m instanceof GgufFile) {
    out.push(`  GGUF v${m.version}, alignment ${m.alignment}, tensor data at byte ${num(m.dataOffset)}`);
  } else if (m instanceof SplitGguf) {
    out.push(`  split GGUF v${m.parts[0]!.version} in ${m.parts.length} parts:`);
    m.parts.forEach((p, i) => out.push(`    ${i + 1}. ${p.name} (${p.tensors.length} tensors)`));
  } else {
    out.push(`  ${m.format}`);
  }
  const types = typesOf(m);
  out.push("", `metadata (${m.metadata.size} keys):`);
  if (m.metadata.size > 0) {
    const rows = [...m.metadata].map(([k, v]) => {
      const t = types?.get(k);
      const text = t?.type === GgufValueType.F32 && typeof v === "number" ? f32Text(v)
        : t?.arrayType === GgufValueType.F32 && Array.isArray(v) ? showValue(v.map((x) => (typeof x === "number" ? Number(f32Text(x)) : x)))
        : showValue(v);
      return [k, typeLabel(t, v), text];
    });
    out.push(...table(rows, new Set()).map((l) => `  ${l}`));
  }
  out.push("", `tensors (${m.tensors.length}):`);
  if (m.tensors.length > 0) {
    const split = m instanceof SplitGguf;
    const head = ["name", "type", "shape", "bytes", "offset", ...(split ? ["part"] : [])];
    const rows = m.tensors.map((t) => {
      const p = placement(m, t);
      return [t.name, ggmlTypeName(t.type), t.shape.join(" × "), num(t.byteLength), p.offset === null ? "-" : num(p.offset), ...(split ? [String(p.part ?? "?")] : [])];
    });
    out.push(...table([head, ...rows], new Set([3, 4, 5])).map((l) => `  ${l}`));
  }
  const bytes = m.tensors.reduce((a, t) => a + t.byteLength, 0);
  const params = m.tensors.reduce((a, t) => a + t.elements, 0);
  const byType = new Map<string, number>();
  for (const t of m.tensors) byType.set(ggmlTypeName(t.type), (byType.get(ggmlTypeName(t.type)) ?? 0) + 1);
  out.push(
    "",
    `total: ${m.tensors.length} tensors (${[...byType].map(([k, n]) => `${n} ${k}`).join(", ") || "none"}), ` +
      `${num(bytes)} bytes (${humanBytes(bytes)}), ${num(params)} parameters`,
  );
  return `${out.join("\n")}\n`;
}
