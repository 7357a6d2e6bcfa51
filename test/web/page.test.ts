// The chat page end to end in Debian's headless Chromium: `llamats serve` hands out the page and
// the model file; the page loads stories260K into its engine worker (WASM kernels on a Web Worker
// pool), generates greedily and must produce the text Node produces; the stop button stops a
// reply and the next one works; the server side of the same page gives the same text; a reload
// takes the model from the OPFS cache. Screenshots go to test-output/web/.

import { test } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { createServer as createHttpServer } from "node:http";
import type { AddressInfo } from "node:net";
import { existsSync, mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { loadModel } from "../../src/index.ts";
import { serveModel } from "../../src/node/http-llama.ts";

const root = fileURLToPath(new URL("../../", import.meta.url));
const MODEL = join(root, "models", "stories260K.gguf");
const CHROMIUM = process.env.CHROMIUM_PATH ?? "/usr/bin/chromium";
const OUT = join(root, "test-output", "web");
const PROMPT = "Once upon a time";
const N = 48;

const missing = !existsSync(CHROMIUM);
if (missing) {
  process.stderr.write(`\n!!!!! test/web/page.test.ts SKIPPED: no browser at ${CHROMIUM} (apt-get install -y chromium) !!!!!\n\n`);
}

test("chat page in headless Chromium: in-browser generation equals Node, threads, stop, server mode, OPFS cache", { skip: missing && `no Chromium at ${CHROMIUM}`, timeout: 120_000 }, async (t) => {
  // Always rebuild: a stale bundle would test old code.
  execFileSync(process.execPath, [join(root, "web", "build.ts")], { stdio: "pipe" });

  const reference = await loadModel(MODEL);
  const expected = await reference.generate(PROMPT, { temperature: 0, maxTokens: N }).text();
  await reference.dispose();
  assert.ok(expected.length > 20, "the Node reference produced text");

  const serving = await serveModel({ model: MODEL, port: 0 });
  await serving.loaded;
  const { chromium } = await import("playwright-core");
  const profile = mkdtempSync(join(tmpdir(), "llamats-chromium-"));
  const browser = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update", "--disable-sync", "--disable-quic", "--no-first-run"],
    viewport: { width: 1100, height: 900 },
  });
  t.after(async () => {
    await browser.close();
    await serving.close();
    rmSync(profile, { recursive: true, force: true });
  });
  mkdirSync(OUT, { recursive: true });
  const page = browser.pages()[0] ?? (await browser.newPage());
  const errors: string[] = [];
  page.on("pageerror", (e) => errors.push(e.message));

  await page.goto(serving.url + "/");
  assert.equal(await page.evaluate(() => globalThis.crossOriginIsolated), true, "the page is cross-origin isolated");
  assert.equal(await page.isHidden("#isolation"), true, "no isolation warning");

  // Load the server's model into the browser (range requests, downloaded into the OPFS).
  // Two threads: the engine worker plus one pool worker (this machine has two cores).
  await page.fill("#threads", "2");
  await page.click("#load");
  await page.waitForSelector("body[data-ready=browser]", { timeout: 30_000 });
  const info: Record<string, string | undefined> = await page.$eval("#model-info", (el) => ({ ...(el as HTMLElement).dataset, text: el.textContent ?? "" }));
  t.diagnostic(`loaded: ${info.text}`);
  assert.equal(info.isolated, "true");
  assert.equal(info.origin, "network", "first load downloads");
  assert.equal(info.backend, "wasm");
  assert.equal(info.threads, "2");
  assert.equal(info.poolWorkers, "1");
  assert.ok(page.workers().length >= 2, `the engine worker and a pool worker run (${page.workers().length} workers)`);

  const setSettings = async (mode: string, temperature: number, maxTokens: number) => {
    if (!(await page.$eval("#settings", (d) => (d as HTMLDetailsElement).open))) await page.click("#settings summary");
    await page.selectOption("#mode", mode);
    await page.fill("#temperature", String(temperature));
    await page.fill("#max-tokens", String(maxTokens));
  };
  const sendAndWait = async (text: string, state = "done") => {
    const before = await page.locator(".msg.assistant").count();
    await page.fill("#prompt", text);
    await page.press("#prompt", "Enter");
    const reply = page.locator(".msg.assistant").nth(before);
    await reply.and(page.locator(`[data-state=${state}]`)).waitFor({ timeout: 30_000 });
    return { text: (await reply.locator(".text").textContent()) ?? "", meta: (await reply.locator(".meta").textContent()) ?? "" };
  };

  await setSettings("completion", 0, N);
  const inBrowser = await sendAndWait(PROMPT);
  t.diagnostic(`browser: ${inBrowser.meta}`);
  assert.equal(inBrowser.text, expected, "in-browser greedy text equals Node's");
  assert.match(inBrowser.meta, /^\d+ tokens · [\d.]+ tok\/s$/);
  await setSettings("chat", 0, 24);
  await page.click("#clear-chat");
  const chatInBrowser = await sendAndWait("Tell me a story.");
  assert.ok(chatInBrowser.text.length > 0, "a chat reply");
  await page.screenshot({ path: join(OUT, "chat.png"), fullPage: true });

  // Stop: click the stop button as soon as the first words of a long reply show.
  await setSettings("completion", 1, 2000);
  await page.evaluate(() => {
    const list = document.getElementById("messages")!;
    const obs = new MutationObserver(() => {
      const last = list.querySelector(".msg.assistant:last-child .text");
      if (last?.textContent) {
        obs.disconnect();
        (document.getElementById("stop") as HTMLButtonElement).click();
      }
    });
    obs.observe(list, { subtree: true, childList: true, characterData: true });
  });
  const stopped = await sendAndWait(PROMPT, "stopped");
  assert.ok(stopped.text.length > 0, "some text came before the stop");
  assert.match(stopped.meta, /^stopped after \d+ tokens$/);
  assert.equal(await page.isDisabled("#stop"), true, "the stop button is disabled again");
  // The engine itself stopped: nothing running, and the token counter stands still.
  const metric = (name: string) =>
    page.evaluate(async (n) => {
      const api = (globalThis as unknown as { llamats: { engine: { fetch(u: string): Promise<Response> } } }).llamats;
      const text = await (await api.engine.fetch("/metrics")).text();
      return Number(new RegExp(`^${n}\\{[^}]*\\} (\\S+)$`, "m").exec(text)?.[1]);
    }, name);
  await assert.doesNotReject(async () => {
    for (let i = 0; (await metric("llamats:num_requests_running")) !== 0; i++) {
      if (i > 50) throw new Error("the stopped request is still running");
      await page.waitForTimeout(100);
    }
  });
  const generated = await metric("llamats:generation_tokens_total");
  await page.waitForTimeout(300);
  assert.equal(await metric("llamats:generation_tokens_total"), generated, "no tokens are generated after the stop");
  await setSettings("completion", 0, N);
  assert.equal((await sendAndWait(PROMPT)).text, expected, "the next message works after a stop");

  // The same page on the server side: same API, same text.
  await page.check("input[name=where][value=server]");
  await page.waitForSelector("body[data-ready=server]");
  const onServer = await sendAndWait(PROMPT);
  t.diagnostic(`server: ${onServer.meta}`);
  assert.equal(onServer.text, expected, "server-side greedy text equals Node's");
  await setSettings("chat", 0, 24);
  await page.click("#clear-chat");
  assert.equal((await sendAndWait("Tell me a story.")).text, chatInBrowser.text, "chat: the server answers as the browser did");

  // A reload finds the model in the OPFS cache.
  await page.reload();
  await page.click("#load");
  await page.waitForSelector("body[data-ready=browser]", { timeout: 30_000 });
  assert.equal(await page.$eval("#model-info", (el) => (el as HTMLElement).dataset.origin), "cache", "second load reads the OPFS copy");

  // A file from the picker: read in slices from the File, no network.
  await page.check("input[name=from][value=file]");
  await page.setInputFiles("#model-file", MODEL);
  await page.click("#load");
  await page.waitForSelector("#model-info[data-origin=file]", { timeout: 30_000 });
  await setSettings("completion", 0, N);
  assert.equal((await sendAndWait(PROMPT)).text, expected, "a model from the file picker generates the same text");

  // A phone-sized screen: everything fits the width.
  await page.setViewportSize({ width: 390, height: 844 });
  const overflow = await page.evaluate(() => document.documentElement.scrollWidth - document.documentElement.clientWidth);
  assert.ok(overflow <= 0, `no horizontal scrolling on a narrow screen (overflow ${overflow}px)`);
  await page.screenshot({ path: join(OUT, "phone.png"), fullPage: true });
  assert.deepEqual(errors, [], "no uncaught page errors");

  // The same page without the isolation headers (behind a proxy that drops them): it says so and
  // runs on one thread, still with the same text.
  const proxy = createHttpServer(async (req, res) => {
    const upstream = await fetch(serving.url + req.url, { headers: req.headers.range ? { range: req.headers.range } : {} });
    const headers: Record<string, string> = {};
    upstream.headers.forEach((v, k) => {
      if (!k.startsWith("cross-origin-")) headers[k] = v;
    });
    res.writeHead(upstream.status, headers);
    res.end(new Uint8Array(await upstream.arrayBuffer()));
  });
  await new Promise<void>((resolve) => proxy.listen(0, "127.0.0.1", resolve));
  t.after(() => new Promise<void>((resolve) => proxy.close(() => resolve())));
  const plain = await browser.newPage();
  await plain.goto(`http://127.0.0.1:${(proxy.address() as AddressInfo).port}/`);
  assert.equal(await plain.evaluate(() => globalThis.crossOriginIsolated), false);
  assert.equal(await plain.isVisible("#isolation"), true, "the page says it is not isolated");
  await plain.click("#load");
  await plain.waitForSelector("body[data-ready=browser]", { timeout: 30_000 });
  const single = await plain.$eval("#model-info", (el) => ({ ...(el as HTMLElement).dataset }));
  assert.equal(single.threads, "1");
  assert.equal(single.poolWorkers, "0");
  await plain.click("#settings summary");
  await plain.selectOption("#mode", "completion");
  await plain.fill("#temperature", "0");
  await plain.fill("#max-tokens", String(N));
  await plain.fill("#prompt", PROMPT);
  await plain.press("#prompt", "Enter");
  await plain.waitForSelector(".msg.assistant[data-state=done]", { timeout: 30_000 });
  assert.equal(await plain.textContent(".msg.assistant .text"), expected, "one thread, same text");
  await plain.screenshot({ path: join(OUT, "not-isolated.png") });
});
