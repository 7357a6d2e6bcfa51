// The chat page: pick where the model runs (this browser's engine worker, or the server), load it
// with a progress bar, and chat with streaming replies. Both sides speak the same OpenAI API
// through one client, so everything below the "where" switch is shared.

import { OpenAIClient, WorkerEngine, serverFetch, type ChatMessage, type LoadedInfo, type Usage } from "../src/web/client.ts";

const $ = <T extends HTMLElement>(id: string) => document.getElementById(id) as T;
const ui = {
  status: $<HTMLParagraphElement>("status"),
  isolation: $<HTMLParagraphElement>("isolation"),
  browserSetup: $<HTMLDivElement>("browser-setup"),
  urlRow: $<HTMLParagraphElement>("url-row"),
  fileRow: $<HTMLParagraphElement>("file-row"),
  url: $<HTMLInputElement>("model-url"),
  file: $<HTMLInputElement>("model-file"),
  threads: $<HTMLInputElement>("threads"),
  load: $<HTMLButtonElement>("load"),
  clearCache: $<HTMLButtonElement>("clear-cache"),
  progressRow: $<HTMLParagraphElement>("progress-row"),
  progressLabel: $<HTMLLabelElement>("progress-label"),
  progress: $<HTMLProgressElement>("progress"),
  info: $<HTMLParagraphElement>("model-info"),
  mode: $<HTMLSelectElement>("mode"),
  system: $<HTMLTextAreaElement>("system"),
  temperature: $<HTMLInputElement>("temperature"),
  topP: $<HTMLInputElement>("top-p"),
  maxTokens: $<HTMLInputElement>("max-tokens"),
  clearChat: $<HTMLButtonElement>("clear-chat"),
  messages: $<HTMLOListElement>("messages"),
  composer: $<HTMLFormElement>("composer"),
  prompt: $<HTMLTextAreaElement>("prompt"),
  send: $<HTMLButtonElement>("send"),
  stop: $<HTMLButtonElement>("stop"),
};

const isolated = globalThis.crossOriginIsolated === true;
const engine = new WorkerEngine(new URL("./engine-worker.js", import.meta.url));
const clients = {
  browser: new OpenAIClient(engine.fetch),
  server: new OpenAIClient(serverFetch),
};
// For the console and for scripts: the same OpenAI-shaped API on both sides.
Object.assign(globalThis, { llamats: { browser: clients.browser, server: clients.server, engine } });

type Where = keyof typeof clients;
let where: Where = "browser";
let browserModel: LoadedInfo | undefined;
let serverModel: string | undefined;
let history: ChatMessage[] = [];
let generating: AbortController | undefined;
let loading: AbortController | undefined;

const radio = (name: string) => (document.querySelector(`input[name="${name}"]:checked`) as HTMLInputElement).value;

function setStatus(text: string): void {
  ui.status.textContent = text;
}

function ready(): boolean {
  return where === "browser" ? browserModel !== undefined : serverModel !== undefined;
}

function refresh(): void {
  ui.browserSetup.hidden = where !== "browser";
  const from = radio("from");
  ui.urlRow.hidden = from !== "url";
  ui.fileRow.hidden = from !== "file";
  ui.send.disabled = !ready() || generating !== undefined;
  ui.stop.disabled = generating === undefined;
  ui.load.disabled = loading !== undefined;
  if (where === "server") {
    setStatus(serverModel ? `Server model: ${serverModel}` : "The server has no model ready");
  } else if (browserModel) {
    setStatus(`In-browser model: ${browserModel.modelId}`);
  } else if (!loading) {
    setStatus("Load a model to chat in this browser");
  }
  document.body.dataset.ready = ready() ? where : "";
}

function describe(info: LoadedInfo): string {
  const mb = (info.bytes / 2 ** 20).toFixed(1);
  const from = { file: "from the file", cache: "from the browser's cache", network: "downloaded and cached", range: "by range requests" }[info.origin];
  const threads = info.threads === 1 ? "1 thread" : `${info.threads} threads`;
  let s = `${info.modelId} (${mb} MiB, ${info.layers} layers, context ${info.contextSize}) loaded ${from} in ${(info.loadMs / 1000).toFixed(1)} s; ${info.backend} backend, ${threads}.`;
  if (info.fallback) s += ` WASM unavailable (${info.fallback}), using the reference backend.`;
  return s;
}

async function loadBrowserModel(): Promise<void> {
  const from = radio("from");
  let source: { url: string } | { file: File };
  if (from === "file") {
    const file = ui.file.files?.[0];
    if (!file) {
      setStatus("Choose a GGUF file first");
      ui.file.focus();
      return;
    }
    source = { file };
  } else if (from === "url") {
    if (!ui.url.value || !ui.url.checkValidity()) {
      setStatus("Enter the model's URL first");
      ui.url.focus();
      return;
    }
    source = { url: ui.url.value };
  } else {
    source = { url: new URL("/model.gguf", location.href).href };
  }
  loading = new AbortController();
  browserModel = undefined;
  ui.progressRow.hidden = false;
  ui.progress.value = 0;
  ui.info.textContent = "";
  refresh();
  setStatus("Loading the model in this browser…");
  try {
    browserModel = await engine.load(
      { from: source, threads: Math.max(1, Number(ui.threads.value) || 1), backend: "auto" },
      {
        signal: loading.signal,
        onProgress: (p) => {
          ui.progressLabel.textContent = p.phase === "download" ? `Downloading ${(p.done / 2 ** 20).toFixed(1)} of ${(p.total / 2 ** 20).toFixed(1)} MiB` : "Loading weights";
          ui.progress.value = p.total > 0 ? p.done / p.total : 0;
        },
      },
    );
    ui.info.textContent = describe(browserModel);
    Object.assign(ui.info.dataset, {
      origin: browserModel.origin,
      backend: browserModel.backend,
      threads: String(browserModel.threads),
      poolWorkers: String(browserModel.poolWorkers),
      isolated: String(browserModel.crossOriginIsolated),
    });
  } catch (e) {
    ui.info.textContent = `Loading failed: ${e instanceof Error ? e.message : String(e)}`;
  } finally {
    loading = undefined;
    ui.progressRow.hidden = true;
    refresh();
  }
}

function addMessage(role: "user" | "assistant", text: string): { li: HTMLLIElement; text: HTMLParagraphElement; meta: HTMLSpanElement } {
  const li = document.createElement("li");
  li.className = `msg ${role}`;
  const who = document.createElement("span");
  who.className = "who";
  who.textContent = role === "user" ? "You" : `Assistant (${where === "browser" ? "in this browser" : "on the server"})`;
  const p = document.createElement("p");
  p.className = "text";
  p.textContent = text;
  const meta = document.createElement("span");
  meta.className = "meta";
  li.append(who, p, meta);
  ui.messages.append(li);
  li.scrollIntoView({ block: "end" });
  return { li, text: p, meta };
}

function numberOf(input: HTMLInputElement, fallback: number): number {
  const v = Number(input.value);
  return input.value !== "" && Number.isFinite(v) ? v : fallback;
}

async function send(): Promise<void> {
  const text = ui.prompt.value;
  if (!text.trim() || !ready() || generating) return;
  ui.prompt.value = "";
  const client = clients[where];
  const completion = ui.mode.value === "completion";
  addMessage("user", text);
  const reply = addMessage("assistant", "");
  reply.li.dataset.state = "streaming";
  reply.li.setAttribute("aria-busy", "true");
  generating = new AbortController();
  refresh();
  const params = {
    temperature: numberOf(ui.temperature, 0.7),
    top_p: numberOf(ui.topP, 1),
    max_tokens: Math.max(1, Math.floor(numberOf(ui.maxTokens, 256))),
    stream_options: { include_usage: true },
  };
  const t0 = performance.now();
  let out = "";
  let usage: Usage | undefined;
  let chunks = 0;
  try {
    const signal = generating.signal;
    if (completion) {
      for await (const c of await client.completions.create({ ...params, prompt: text }, { signal })) {
        if (c.usage) usage = c.usage;
        const piece = c.choices[0]?.text ?? "";
        if (piece) {
          chunks++;
          out += piece;
          reply.text.textContent = out;
        }
      }
    } else {
      const messages: ChatMessage[] = [];
      if (ui.system.value.trim()) messages.push({ role: "system", content: ui.system.value });
      messages.push(...history, { role: "user", content: text });
      for await (const c of await client.chat.completions.create({ ...params, messages }, { signal })) {
        if (c.usage) usage = c.usage;
        const piece = c.choices[0]?.delta.content ?? "";
        if (piece) {
          chunks++;
          out += piece;
          reply.text.textContent = out;
        }
      }
    }
    const secs = (performance.now() - t0) / 1000;
    const n = usage?.completion_tokens ?? chunks;
    reply.meta.textContent = `${n} tokens · ${(n / secs).toFixed(1)} tok/s`;
    reply.li.dataset.tokens = String(n);
    reply.li.dataset.state = "done";
  } catch (e) {
    if (generating.signal.aborted) {
      reply.meta.textContent = `stopped after ${chunks} tokens`;
      reply.li.dataset.state = "stopped";
    } else {
      reply.li.classList.add("error");
      reply.text.textContent = out + (out ? "\n" : "") + `Error: ${e instanceof Error ? e.message : String(e)}`;
      reply.li.dataset.state = "error";
    }
  } finally {
    reply.li.removeAttribute("aria-busy");
    if (!completion && out) history.push({ role: "user", content: text }, { role: "assistant", content: out });
    generating = undefined;
    refresh();
    ui.prompt.focus();
  }
}

async function checkServer(): Promise<void> {
  try {
    const list = await clients.server.models.list();
    serverModel = list.data[0]?.id;
  } catch {
    serverModel = undefined;
  }
  refresh();
}

// --- wiring ---

ui.isolation.hidden = isolated;
const cores = navigator.hardwareConcurrency || 1;
ui.threads.value = String(isolated ? Math.min(cores, 8) : 1);
if (!isolated) ui.threads.max = "1";

for (const r of document.querySelectorAll<HTMLInputElement>('input[name="where"]')) {
  r.addEventListener("change", () => {
    where = radio("where") as Where;
    if (where === "server") void checkServer();
    refresh();
  });
}
for (const r of document.querySelectorAll<HTMLInputElement>('input[name="from"]')) r.addEventListener("change", refresh);
ui.load.addEventListener("click", () => void loadBrowserModel());
ui.clearCache.addEventListener("click", () => {
  void engine.clearCache().then(
    (n) => setStatus(n ? `Removed ${n} cached file${n === 1 ? "" : "s"}` : "No cached models"),
    (e: unknown) => setStatus(`Could not clear the cache: ${e instanceof Error ? e.message : String(e)}`),
  );
});
ui.clearChat.addEventListener("click", () => {
  history = [];
  ui.messages.replaceChildren();
});
ui.composer.addEventListener("submit", (e) => {
  e.preventDefault();
  void send();
});
ui.prompt.addEventListener("keydown", (e) => {
  if (e.key === "Enter" && !e.shiftKey && !e.isComposing) {
    e.preventDefault();
    void send();
  }
});
ui.stop.addEventListener("click", () => generating?.abort());
document.addEventListener("keydown", (e) => {
  if (e.key === "Escape" && generating) generating.abort();
});
ui.mode.addEventListener("change", () => {
  ui.system.disabled = ui.mode.value === "completion";
});

refresh();
void checkServer();
