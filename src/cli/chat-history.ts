// Keeping a conversation inside the context: the system prompt always stays, the oldest turns go
// first, and the newest message always stays (a message too long for the context alone is the
// user's error).

import { UserError } from "../errors.ts";
import type { ChatMessage } from "../chat/types.ts";

export interface FittedHistory {
  readonly messages: ChatMessage[];
  /** Messages left out from the front (after the system prompt). */
  readonly dropped: number;
  readonly tokens: number;
}

/**
 * The longest suffix of the conversation (after the system prompt, which is always kept) whose
 * prompt takes at most `budget` tokens. `count` renders messages into prompt tokens. Dropping
 * continues past an assistant message so the kept part starts with a user turn, as chat
 * templates that check role alternation require.
 */
export function fitHistory(messages: readonly ChatMessage[], count: (m: readonly ChatMessage[]) => number, budget: number): FittedHistory {
  const system = messages[0]?.role === "system" ? [messages[0]] : [];
  const turns = messages.slice(system.length);
  let from = 0;
  for (;;) {
    const kept = [...system, ...turns.slice(from)];
    const tokens = count(kept);
    if (tokens <= budget) return { messages: kept, dropped: from, tokens };
    if (from >= turns.length - 1) {
      throw new UserError(
        `the message does not fit in the context: the prompt needs ${tokens} tokens, ${budget} are available for it ` +
          `(raise the context with -c, or shorten the message${system.length ? " or the system prompt" : ""})`,
      );
    }
    from++;
    while (from < turns.length - 1 && turns[from]!.role !== "user") from++;
  }
}
