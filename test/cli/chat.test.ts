import { test, after } from "node:test";
import assert from "node:assert/strict";
import { spawn, spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fitHistory } from "../../src/cli/chat-history.ts";
import { normalizeArgv } from "../../src/cli/argv.ts";
import type { ChatMessage } from "../../src/chat/types.ts";

const ROOT = new URL("../../", import.meta.url).pathname;
const MODEL = join(ROOT, "models/stories260K.gguf");
const dir = mkdtempSync(join(tmpdir(), "llamats-chat-"));
after(() => rmSync(dir, { recursive: true, force: true }));

const chat = (input: string, ...args: string[]) =>
  spawnSync(process.execPath, [join(ROOT, "bin/llamats.js"), "chat", "-m", MODEL, ...args], { input, encoding: "utf8", cwd: ROOT });

test("chat through a pipe: replies stream, /save writes the conversation, /reset clears it, /exit quits", () => {
  const save1 = join(dir, "one.json"), save2 = join(dir, "two.json");
  const r = chat(
    ["Once upon a time", "Tell me about Lily", `/save ${save1}`, "/reset", "Hello", `/save ${save2}`, "/exit", "never read"].join("\n") + "\n",
    "-sys", "You tell stories.", "-n", "12", "--temp", "0",
  );
  assert.equal(r.status, 0, r.stderr);
  const replies = r.stdout.split("\n").filter((l) => l.length > 0);
  assert.equal(replies.length, 3, JSON.stringify(r.stdout));
  const one = JSON.parse(readFileSync(save1, "utf8"));
  assert.equal(one.model, MODEL);
  assert.deepEqual(one.messages.map((m: ChatMessage) => m.role), ["system", "user", "assistant", "user", "assistant"]);
  assert.equal(one.messages[0].content, "You tell stories.");
  assert.equal(one.messages[1].content, "Once upon a time");
  assert.equal(one.messages[2].content, replies[0]);
  assert.equal(one.messages[4].content, replies[1]);
  const two = JSON.parse(readFileSync(save2, "utf8"));
  assert.deepEqual(two.messages.map((m: ChatMessage) => m.content), ["You tell stories.", "Hello", replies[2]]);
  assert.match(r.stderr, /conversation cleared/);
  // Greedy and the same conversation state: the first reply is reproducible; the second turn
  // evaluates only what follows the cached prefix.
  const again = chat("Once upon a time\nTell me about Lily\n", "-sys", "You tell stories.", "-n", "12", "--temp", "0", "--verbose");
  assert.equal(again.stdout.split("\n")[0], replies[0]);
  const stats = [...again.stderr.matchAll(/prompt (\d+) tokens \((\d+) reused/g)].map((m) => [Number(m[1]), Number(m[2])]);
  assert.equal(stats.length, 2, again.stderr);
  assert.equal(stats[0]![1], 0);
  assert.ok(stats[1]![1] >= stats[0]![0] - 1 && stats[1]![1] < stats[1]![0], `second turn reused ${stats[1]![1]} of ${stats[1]![0]}`);
});

test("chat keeps the conversation inside a small context by dropping the oldest turns", () => {
  const lines = Array.from({ length: 6 }, (_, i) => `Question number ${i} about the little dog`);
  const r = chat(lines.join("\n") + `\n/save ${join(dir, "small.json")}\n`, "-sys", "Be brief.", "-c", "96", "-n", "8", "--temp", "0");
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stderr, /dropped the \d+ oldest messages/);
  const saved = JSON.parse(readFileSync(join(dir, "small.json"), "utf8"));
  assert.equal(saved.messages[0].role, "system");
  assert.equal(saved.messages[0].content, "Be brief.");
  assert.equal(saved.messages.at(-2).content, lines.at(-1));
  assert.ok(saved.messages.length < 1 + 2 * lines.length);
});

test("chat: a message that cannot fit is one error line, and the chat goes on", () => {
  const long = "word ".repeat(200);
  const r = chat(`${long}\nHi\n`, "-c", "64", "-n", "4", "--temp", "0");
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stderr, /^llamats: the message does not fit in the context: .*-c/m);
  assert.equal(r.stdout.split("\n").filter(Boolean).length, 1);
});

test("Ctrl-C stops the current reply and keeps the chat; a second Ctrl-C quits", async () => {
  const save = join(dir, "interrupted.json");
  const p = spawn(process.execPath, [join(ROOT, "bin/llamats.js"), "chat", "-m", MODEL, "--temp", "0", "-n", "400"], { cwd: ROOT });
  let out = "", err = "", interrupted = false;
  p.stdin.write("Once upon a time\n");
  p.stdout.on("data", (d) => {
    out += d;
    if (!interrupted && out.length > 20) {
      interrupted = true;
      p.kill("SIGINT");
    }
  });
  p.stderr.on("data", (d) => {
    err += d;
    if (/reply stopped\n$/.test(err)) p.stdin.write(`/save ${save}\n`);
    if (/saved \d+ messages/.test(err)) p.kill("SIGINT");
  });
  const code = await new Promise<number | null>((resolve) => p.on("exit", (c) => resolve(c)));
  assert.equal(code, 0, err);
  const saved = JSON.parse(readFileSync(save, "utf8"));
  assert.deepEqual(saved.messages.map((m: ChatMessage) => m.role), ["user", "assistant"]);
  const partial = saved.messages[1].content as string;
  assert.ok(partial.length > 0 && out.startsWith(partial), JSON.stringify({ partial, out }));
});

const msg = (role: string, content: string): ChatMessage => ({ role, content });
/** Token count stand-in: 10 per message. */
const tenEach = (m: readonly ChatMessage[]) => 10 * m.length;

test("fitHistory keeps the system prompt and drops the oldest turns first", () => {
  const conv = [msg("system", "S"), msg("user", "u1"), msg("assistant", "a1"), msg("user", "u2"), msg("assistant", "a2"), msg("user", "u3")];
  assert.deepEqual(fitHistory(conv, tenEach, 100).messages, conv);
  const fit = fitHistory(conv, tenEach, 40);
  assert.deepEqual(fit.messages.map((m) => m.content), ["S", "u2", "a2", "u3"]);
  assert.equal(fit.dropped, 2);
  assert.equal(fit.tokens, 40);
  // never starts the kept turns with an assistant message
  assert.deepEqual(fitHistory(conv, tenEach, 30).messages.map((m) => m.content), ["S", "u3"]);
  // without a system prompt
  assert.deepEqual(fitHistory(conv.slice(1), tenEach, 20).messages.map((m) => m.content), ["u3"]);
  assert.throws(() => fitHistory(conv, tenEach, 15), /does not fit in the context: the prompt needs 20 tokens, 15 are available/);
});

test("-sys is rewritten only for chat, and never inside values", () => {
  const n = (...a: string[]) => normalizeArgv(["node", "llamats", ...a]).slice(2);
  assert.deepEqual(n("chat", "-m", "x", "-sys", "be nice"), ["chat", "-m", "x", "--system-prompt", "be nice"]);
  assert.deepEqual(n("chat", "-sys", "-sys"), ["chat", "--system-prompt", "-sys"]);
  assert.deepEqual(n("--verbose", "chat", "-sys=hi"), ["--verbose", "chat", "--system-prompt=hi"]);
  assert.deepEqual(n("run", "-p", "-sys"), ["run", "-p", "-sys"]);
  assert.deepEqual(n("run", "-sys"), ["run", "-sys"]);
});
