// `llamats chat`: an interactive conversation in the model's chat template (a hand-written
// Llama 2/3/ChatML format when the file has none). Replies stream as they are sampled; each turn
// re-renders the whole conversation and the session reuses the KV cache of the common prefix, so
// only the new turn is evaluated. Reads lines from a pipe just as well as from a terminal.

import { writeFile } from "node:fs/promises";
import { createInterface, type Interface } from "node:readline";
import type { Command } from "commander";
import { loadModel, type Model, type Session } from "../index.ts";
import type { ChatMessage } from "../chat/types.ts";
import { UserError, isUserError } from "../errors.ts";
import { generate } from "../engine/generate.ts";
import { chatPromptTokens, chatSetup, type ChatSetup } from "../engine/chat-prompt.ts";
import { fitHistory } from "./chat-history.ts";
import { loadOptions, samplerParams } from "./common.ts";
import { addModelOptions, addSamplingOptions, intArg, type ModelFlags, type SamplingFlags } from "./options.ts";

interface ChatFlags extends ModelFlags, SamplingFlags {
  systemPrompt?: string;
  nPredict: number;
}

const HELP = "commands: /reset (forget the conversation), /save FILE (write it as JSON), /exit (quit); Ctrl-C stops a reply, a second one quits\n";

export function register(program: Command): void {
  const cmd = program
    .command("chat")
    .description("talk with a model in its chat template (interactive; also reads lines from a pipe)")
    .option("--system-prompt <text>", "system prompt (also -sys, as in llama.cpp), kept when old turns are dropped")
    .option("-n, --n-predict <n>", "most tokens per reply (-1 = until the turn ends or the context is full)", intArg("--n-predict", -1), -1);
  addModelOptions(cmd);
  addSamplingOptions(cmd);
  cmd.addHelpText(
    "after",
    `\nIn the chat: ${HELP}\nExamples:\n  llamats chat -m Llama-3.2-1B-Instruct-Q4_K_M.gguf -sys "You are a terse assistant." --temp 0.7\n` +
      `  printf 'Hello\\n/save chat.json\\n' | llamats chat -m models/stories260K.gguf -n 32 --temp 0\n`,
  );
  cmd.action(async (flags: ChatFlags) => {
    const model = await loadModel(flags.model, loadOptions(flags));
    try {
      await new ChatRepl(model, flags).run();
    } finally {
      await model.dispose();
    }
  });
}

type Finish = "stop" | "length" | "abort";

class ChatRepl {
  readonly model: Model;
  readonly flags: ChatFlags;
  readonly setup: ChatSetup;
  readonly session: Session;
  readonly tty = Boolean(process.stdin.isTTY);
  messages: ChatMessage[] = [];
  abort: AbortController | undefined;
  quitting = false;
  rl!: Interface;

  constructor(model: Model, flags: ChatFlags) {
    this.model = model;
    this.flags = flags;
    this.setup = chatSetup(model);
    this.session = model.createSession();
    this.reset();
  }

  reset(): void {
    this.messages = this.flags.systemPrompt ? [{ role: "system", content: this.flags.systemPrompt }] : [];
  }

  /** Tokens kept free for the reply when old turns have to go. */
  get replyReserve(): number {
    const ctx = this.model.contextSize;
    return this.flags.nPredict > 0 ? Math.min(this.flags.nPredict, Math.floor(ctx / 2)) : Math.floor(ctx / 4);
  }

  async run(): Promise<void> {
    this.rl = createInterface({ input: process.stdin, output: this.tty ? process.stdout : undefined, terminal: this.tty });
    const interrupt = () => {
      if (this.abort && !this.abort.signal.aborted) this.abort.abort();
      else this.quit();
    };
    this.rl.on("SIGINT", interrupt);
    process.on("SIGINT", interrupt);
    if (this.tty) {
      const how = this.setup.template ? "its chat template" : `the ${this.setup.fallback} format (the file has no chat template)`;
      process.stderr.write(`chat: ${this.model.file.name} in ${how}, context ${this.model.contextSize}\n${HELP}`);
      this.rl.setPrompt("> ");
      this.rl.prompt();
    }
    try {
      for await (const raw of this.rl) {
        if (this.quitting) break;
        const line = raw.trim();
        if (line !== "") {
          try {
            if (!(await this.handle(line))) break;
          } catch (e) {
            // A turn that fails (too long for the context, a template error) leaves the chat usable.
            if (!isUserError(e)) throw e;
            process.stderr.write(`llamats: ${e.message}\n`);
          }
        }
        if (this.quitting) break;
        if (this.tty) this.rl.prompt();
      }
    } finally {
      process.off("SIGINT", interrupt);
      this.rl.close();
    }
  }

  quit(): void {
    this.quitting = true;
    if (this.tty) process.stdout.write("\n");
    this.rl.close();
  }

  /** One line of input; false to quit. */
  async handle(line: string): Promise<boolean> {
    if (line.startsWith("/")) {
      const [command, ...rest] = line.split(/\s+/);
      const arg = rest.join(" ");
      switch (command) {
        case "/exit":
        case "/quit":
          return false;
        case "/reset":
          this.reset();
          this.session.reset();
          process.stderr.write("chat: conversation cleared\n");
          return true;
        case "/save": {
          if (!arg) throw new UserError("/save needs a file name: /save FILE");
          const doc = { model: this.flags.model, messages: this.messages };
          await writeFile(arg, JSON.stringify(doc, null, 2) + "\n").catch((e: NodeJS.ErrnoException) => {
            throw new UserError(`${arg}: cannot write (${e.code ?? e.message})`);
          });
          process.stderr.write(`chat: saved ${this.messages.length} messages to ${arg}\n`);
          return true;
        }
        case "/help":
          process.stderr.write(HELP);
          return true;
        default:
          if (command !== "/") {
            process.stderr.write(`chat: unknown command ${command}; ${HELP}`);
            return true;
          }
      }
    }
    await this.turn(line);
    return true;
  }

  async turn(userText: string): Promise<void> {
    const candidate = [...this.messages, { role: "user", content: userText }];
    const budget = this.model.contextSize - this.replyReserve;
    const fitted = fitHistory(candidate, (m) => chatPromptTokens(this.model, this.setup, m, undefined).length, budget);
    if (fitted.dropped > 0) process.stderr.write(`chat: dropped the ${fitted.dropped} oldest messages to stay within the context\n`);
    this.messages = fitted.messages;
    const prompt = chatPromptTokens(this.model, this.setup, this.messages, undefined);
    this.abort = new AbortController();
    let result: { text: string; finish: Finish };
    try {
      result = await this.reply(prompt, this.abort.signal);
    } finally {
      this.abort = undefined;
    }
    process.stdout.write("\n");
    if (result.finish === "abort") process.stderr.write("chat: reply stopped\n");
    // A stopped reply is kept as far as it went, as llama.cpp's chat does.
    this.messages.push({ role: "assistant", content: result.text });
  }

  async reply(prompt: number[], signal: AbortSignal): Promise<{ text: string; finish: Finish }> {
    let text = "";
    const gen = generate(this.session, prompt, {
      ...samplerParams(this.flags),
      maxTokens: this.flags.nPredict < 0 ? Infinity : this.flags.nPredict,
      stop: this.setup.stopStrings,
      stopTokens: this.setup.stopTokens,
      signal,
    });
    try {
      for await (const chunk of gen) {
        text += chunk.text;
        process.stdout.write(chunk.text);
      }
    } catch (e) {
      if (signal.aborted) return { text, finish: "abort" };
      throw e;
    }
    const s = gen.stats;
    if (process.argv.includes("--verbose")) {
      process.stderr.write(
        `chat: prompt ${s.promptTokens.length} tokens (${s.reusedTokens} reused from the cache), ` +
          `${s.generatedTokens.length} generated in ${((s.promptMs + s.generateMs) / 1000).toFixed(2)} s (${s.finishReason})\n`,
      );
    }
    return { text, finish: s.finishReason ?? "length" };
  }
}
