// While streaming a chat reply that may contain tool calls, text from the start of a call on is
// held back: a call must reach the client as `tool_calls`, never as content. Text before it flows
// as usual, and held text that turns out not to be a call is released at the end.

import { TOOL_CALL_OPENERS, type ToolCallFormat } from "./tool-calls.ts";

export class ToolCallHoldback {
  private readonly openers: readonly string[];
  /** Llama 3 calls are the whole reply: an opener counts only at its start. */
  private readonly atStartOnly: boolean;
  private sent = "";
  private held = "";
  private holding = false;

  constructor(format: ToolCallFormat | undefined) {
    this.openers = format ? TOOL_CALL_OPENERS[format] : [...new Set(Object.values(TOOL_CALL_OPENERS).flat())].filter((o) => o !== "{");
    this.atStartOnly = format === "llama3";
  }

  /** Text that may be streamed now. */
  push(text: string): string {
    if (this.holding) {
      this.held += text;
      return "";
    }
    const buf = this.held + text;
    this.held = "";
    const at = this.findOpener(buf);
    if (at >= 0) {
      this.holding = true;
      this.held = buf.slice(at);
      return this.emit(buf.slice(0, at));
    }
    const keep = this.partialTail(buf);
    this.held = buf.slice(buf.length - keep);
    return this.emit(buf.slice(0, buf.length - keep));
  }

  /** Whatever is still held (the caller drops it when it parsed as tool calls). */
  finish(): string {
    const t = this.held;
    this.held = "";
    return t;
  }

  private emit(s: string): string {
    this.sent += s;
    return s;
  }

  private findOpener(buf: string): number {
    if (this.atStartOnly) {
      if (this.sent.trim() !== "") return -1;
      const lead = buf.length - buf.trimStart().length;
      const rest = buf.slice(lead);
      return this.openers.some((o) => rest.startsWith(o)) ? lead : -1;
    }
    let best = -1;
    for (const o of this.openers) {
      const i = buf.indexOf(o);
      if (i >= 0 && (best < 0 || i < best)) best = i;
    }
    return best;
  }

  // The longest end of buf that could still grow into an opener.
  private partialTail(buf: string): number {
    if (this.atStartOnly) {
      if (this.sent.trim() !== "") return 0;
      const rest = buf.trimStart();
      return rest === "" || this.openers.some((o) => o.startsWith(rest)) ? buf.length : 0;
    }
    let best = 0;
    for (const o of this.openers) {
      for (let k = Math.min(o.length - 1, buf.length); k > best; k--) {
        if (buf.endsWith(o.slice(0, k))) {
          best = k;
          break;
        }
      }
    }
    return best;
  }
}
