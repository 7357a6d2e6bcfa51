// llama.cpp spellings that commander cannot parse as they are: `-sys` is a multi-letter short
// flag, which commander would read as `-s -y -s`. Rewritten only inside the `chat` command, so
// another command's `-s` (the seed) and any prompt text that happens to be "-sys" stay as typed.

const CHAT_ALIASES: Readonly<Record<string, string>> = { "-sys": "--system-prompt" };

/** argv as process.argv gives it (node, script, ...args). */
export function normalizeArgv(argv: readonly string[]): string[] {
  const out = [...argv];
  const cmd = out.findIndex((a, i) => i >= 2 && !a.startsWith("-"));
  if (cmd < 0 || out[cmd] !== "chat") return out;
  for (let i = cmd + 1; i < out.length; i++) {
    const a = out[i]!;
    if (a === "--") break;
    const alias = CHAT_ALIASES[a];
    if (alias) {
      out[i] = alias;
      i++; // its value is taken as given, even if it looks like a flag
    } else if (a.startsWith("-sys=")) {
      out[i] = `--system-prompt=${a.slice(5)}`;
    } else if (/^(-p|--prompt|-f|--file|--system-prompt|-m|--model)$/.test(a)) {
      i++; // skip values so that a value "-sys" is left alone
    }
  }
  return out;
}
