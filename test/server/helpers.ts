// Shared pieces of the server tests: a live server on a free loopback port, and a Prometheus
// text parser.

import { serveModel, type ServeModelOptions, type ServingModel } from "../../src/node/http-llama.ts";

export const MODEL = new URL("../../models/stories260K.gguf", import.meta.url).pathname;

export async function startServer(opts: Partial<ServeModelOptions> = {}): Promise<ServingModel> {
  const s = await serveModel({ model: MODEL, host: "127.0.0.1", port: 0, contextSize: 2048, parallel: 4, ...opts });
  await s.loaded;
  return s;
}

export interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

/** Parses Prometheus text format 0.0.4; throws on a line it does not understand. */
export function parsePrometheus(text: string): Sample[] {
  const out: Sample[] = [];
  for (const line of text.split("\n")) {
    if (line === "" || line.startsWith("#")) {
      if (line.startsWith("#") && !/^# (HELP|TYPE) [a-zA-Z_:][a-zA-Z0-9_:]* .+$/.test(line)) throw new Error(`bad comment line: ${line}`);
      continue;
    }
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (!m) throw new Error(`bad sample line: ${line}`);
    const labels: Record<string, string> = {};
    if (m[2]) {
      const re = /([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"(?:,|$)/gy;
      let consumed = 0;
      for (let l = re.exec(m[2]); l; l = re.exec(m[2])) {
        labels[l[1]!] = l[2]!;
        consumed = re.lastIndex;
      }
      if (consumed !== m[2].length) throw new Error(`bad labels: ${line}`);
    }
    const v = m[3]!;
    const value = v === "+Inf" ? Infinity : v === "-Inf" ? -Infinity : Number(v);
    if (Number.isNaN(value) && v !== "NaN") throw new Error(`bad value: ${line}`);
    out.push({ name: m[1]!, labels, value });
  }
  return out;
}

export async function scrape(url: string): Promise<(name: string, labels?: Record<string, string>) => number> {
  const res = await fetch(url + "/metrics");
  if (res.status !== 200) throw new Error(`/metrics answered ${res.status}`);
  const samples = parsePrometheus(await res.text());
  return (name, labels = {}) => {
    const s = samples.find((x) => x.name === name && Object.entries(labels).every(([k, v]) => x.labels[k] === v));
    if (!s) throw new Error(`no sample ${name} ${JSON.stringify(labels)}`);
    return s.value;
  };
}

export function postJson(url: string, body: unknown, headers: Record<string, string> = {}): Promise<Response> {
  return fetch(url, { method: "POST", headers: { "content-type": "application/json", ...headers }, body: typeof body === "string" ? body : JSON.stringify(body) });
}
