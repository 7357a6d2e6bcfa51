// Range serving and HttpRangeSource: the pieces that let a browser open the server's model file.
// Runs in Node against the real server (no browser needed).

import { test } from "node:test";
import assert from "node:assert/strict";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { parseRange, rangeResponse, sourceEtag } from "../../src/server/range.ts";
import { HttpRangeSource } from "../../src/format/http-source.ts";
import { BlobSource, BytesSource } from "../../src/format/source.ts";
import { UserError } from "../../src/errors.ts";
import { loadModel } from "../../src/index.ts";
import { serveModel } from "../../src/node/http-llama.ts";
import { createServer } from "../../src/server/index.ts";
import type { StaticAssets } from "../../src/server/page.ts";

const MODEL = join(fileURLToPath(new URL("../../", import.meta.url)), "models", "stories260K.gguf");

test("parseRange: the forms of a single bytes range", () => {
  assert.deepEqual(parseRange("bytes=0-0", 10), { start: 0, end: 0 });
  assert.deepEqual(parseRange("bytes=2-", 10), { start: 2, end: 9 });
  assert.deepEqual(parseRange("bytes=-3", 10), { start: 7, end: 9 });
  assert.deepEqual(parseRange("bytes=-30", 10), { start: 0, end: 9 });
  assert.deepEqual(parseRange("bytes=5-100", 10), { start: 5, end: 9 });
  assert.equal(parseRange("bytes=10-", 10), "unsatisfiable");
  assert.equal(parseRange("bytes=-0", 10), "unsatisfiable");
  assert.equal(parseRange(null, 10), undefined);
  assert.equal(parseRange("bytes=5-2", 10), undefined, "an invalid range is ignored");
  assert.equal(parseRange("bytes=0-1,3-4", 10), undefined, "several ranges: the whole body");
  assert.equal(parseRange("items=0-1", 10), undefined);
});

const bytes = Uint8Array.from({ length: 3_000_000 }, (_, i) => (i * 7) & 255);
const src = new BytesSource(bytes, "blob");
const req = (headers: Record<string, string>, method = "GET") => new Request("http://x/model.gguf", { headers, method });

test("rangeResponse: 206 slices, whole bodies, 416, If-Range and HEAD", async () => {
  const etag = await sourceEtag(src);
  const part = rangeResponse(req({ range: "bytes=10-19" }), src, { etag });
  assert.equal(part.status, 206);
  assert.equal(part.headers.get("content-range"), `bytes 10-19/${bytes.length}`);
  assert.equal(part.headers.get("content-length"), "10");
  assert.deepEqual(new Uint8Array(await part.arrayBuffer()), bytes.subarray(10, 20));

  const whole = rangeResponse(req({}), src, { etag });
  assert.equal(whole.status, 200);
  const got = new Uint8Array(await whole.arrayBuffer());
  assert.equal(got.length, bytes.length, "a body longer than one read chunk arrives whole");
  assert.deepEqual(got, bytes);

  const bad = rangeResponse(req({ range: `bytes=${bytes.length}-` }), src, { etag });
  assert.equal(bad.status, 416);
  assert.equal(bad.headers.get("content-range"), `bytes */${bytes.length}`);

  const stale = rangeResponse(req({ range: "bytes=0-9", "if-range": '"other"' }), src, { etag });
  assert.equal(stale.status, 200, "another version's If-Range gets the whole file");
  void stale.body?.cancel();
  assert.equal(rangeResponse(req({ range: "bytes=0-9", "if-range": etag }), src, { etag }).status, 206);

  const head = rangeResponse(req({}, "HEAD"), src, { etag });
  assert.equal(head.body, null);
  assert.equal(head.headers.get("content-length"), String(bytes.length));
  assert.equal(head.headers.get("accept-ranges"), "bytes");
});

test("sourceEtag changes when the content does", async () => {
  const other = bytes.slice();
  other[other.length - 1]! ^= 1;
  assert.notEqual(await sourceEtag(src), await sourceEtag(new BytesSource(other)));
  assert.equal(await sourceEtag(src), await sourceEtag(new BytesSource(bytes.slice())));
});

test("BlobSource: a read larger than one slice piece is stitched from pieces", async () => {
  const n = (64 << 20) + 1000;
  const big = new Uint8Array(n);
  for (let i = 0; i < n; i += 4099) big[i] = (i / 4099) & 255;
  big[n - 1] = 201;
  const got = await new BlobSource(new Blob([big])).read(7, n - 7);
  assert.equal(got.length, n - 7);
  assert.equal(got[got.length - 1], 201);
  for (let i = 0; i < got.length; i += 4099 * 31) assert.equal(got[i], big[i + 7]);
  assert.deepEqual(got.subarray((64 << 20) - 20, (64 << 20) + 20), big.subarray((64 << 20) - 13, (64 << 20) + 27), "across the piece boundary");
});

test("HttpRangeSource: reads ranges; refuses servers without range support", async () => {
  const etag = await sourceEtag(src);
  let requests = 0;
  const rangeFetch = (async (input: RequestInfo | URL, init?: RequestInit) => {
    requests++;
    return rangeResponse(new Request(String(input), init), src, { etag });
  }) as typeof fetch;
  const s = await HttpRangeSource.open("http://x/model.gguf", { fetch: rangeFetch });
  assert.equal(s.size, bytes.length);
  assert.equal(s.version, etag);
  assert.deepEqual(await s.read(1000, 5000), bytes.subarray(1000, 6000));
  assert.equal((await s.read(0, 0)).length, 0);
  await assert.rejects(s.read(bytes.length - 1, 2), RangeError);
  assert.equal(requests, 2, "one probe, one read");

  const plain = (async () => new Response(bytes)) as unknown as typeof fetch;
  await assert.rejects(HttpRangeSource.open("http://x/y", { fetch: plain }), (e: unknown) => e instanceof UserError && /does not support range requests/.test(e.message));
  const missing = (async () => new Response("no", { status: 404, statusText: "Not Found" })) as unknown as typeof fetch;
  await assert.rejects(HttpRangeSource.open("http://x/y", { fetch: missing }), /HTTP 404 Not Found/);
});

test("the server hands out the page with isolation headers and its model by ranges; Node loads it over HTTP", async (t) => {
  const serving = await serveModel({ model: MODEL, port: 0 });
  t.after(() => serving.close());
  await serving.loaded;
  const head = await fetch(serving.url + "/model.gguf", { method: "HEAD" });
  assert.equal(head.status, 200);
  assert.equal(head.headers.get("accept-ranges"), "bytes");
  assert.equal(head.headers.get("cross-origin-resource-policy"), "same-origin");

  const remote = await HttpRangeSource.open(serving.url + "/model.gguf");
  const overHttp = await loadModel(remote);
  const local = await loadModel(MODEL);
  try {
    const a = await overHttp.generate("Once upon a time", { temperature: 0, maxTokens: 24 }).text();
    const b = await local.generate("Once upon a time", { temperature: 0, maxTokens: 24 }).text();
    assert.equal(a, b, "the model read over HTTP ranges generates what the file does");
  } finally {
    await overHttp.dispose();
    await local.dispose();
  }
});

test("page routes: index at /, assets by plain name only, 404 without assets", async () => {
  const files: Record<string, string> = { "index.html": "<!doctype html><title>t</title>", "page.js": "1" };
  const assets: StaticAssets = {
    async get(name) {
      const body = files[name];
      return body === undefined ? undefined : { bytes: new TextEncoder().encode(body), type: name.endsWith(".js") ? "text/javascript" : "text/html" };
    },
  };
  const withPage = createServer({ modelId: "m", assets, apiKey: "k" });
  const index = await withPage.fetch(new Request("http://x/"));
  assert.equal(index.status, 200);
  assert.equal(await index.text(), files["index.html"]);
  assert.equal(index.headers.get("cross-origin-opener-policy"), "same-origin");
  assert.equal(index.headers.get("cross-origin-embedder-policy"), "require-corp");
  const js = await withPage.fetch(new Request("http://x/static/page.js"));
  assert.equal(js.status, 200, "assets need no API key");
  assert.equal(js.headers.get("cross-origin-embedder-policy"), "require-corp");
  assert.equal((await withPage.fetch(new Request("http://x/static/..%2Fsecret"))).status, 404);
  assert.equal((await withPage.fetch(new Request("http://x/static/.hidden"))).status, 404);
  assert.equal((await withPage.fetch(new Request("http://x/model.gguf"))).status, 401, "the model file needs the key");

  const bare = createServer({ modelId: "m" });
  const text = await bare.fetch(new Request("http://x/"));
  assert.match(await text.text(), /^llamats server: m/);
  assert.equal(text.headers.get("cross-origin-opener-policy"), "same-origin");
  assert.equal((await bare.fetch(new Request("http://x/static/page.js"))).status, 404);
  assert.equal((await bare.fetch(new Request("http://x/model.gguf"))).status, 503, "no model loaded yet");
});
