// Stop strings that may span token boundaries. Text is pushed as it is decoded; the matcher
// releases what can no longer be part of a stop string, holds back a tail that could still grow
// into one, and once a stop string completes it releases the text before it and nothing more.

export interface StopResult {
  /** Text safe to emit now. */
  text: string;
  /** The stop string that ended generation, once one matched. */
  stopped?: string;
}

export class StopStringMatcher {
  private readonly stops: string[];
  private held = "";
  private done: string | undefined;

  constructor(stops: readonly string[]) {
    this.stops = stops.filter((s) => s.length > 0);
  }

  get stopped(): string | undefined {
    return this.done;
  }

  push(text: string): StopResult {
    if (this.done !== undefined) return { text: "", stopped: this.done };
    const buf = this.held + text;
    // the earliest complete stop string wins; on equal starts, the longest
    let at = -1;
    let which: string | undefined;
    for (const s of this.stops) {
      const i = buf.indexOf(s);
      if (i >= 0 && (at < 0 || i < at || (i === at && s.length > which!.length))) {
        at = i;
        which = s;
      }
    }
    if (which !== undefined) {
      this.done = which;
      this.held = "";
      return { text: buf.slice(0, at), stopped: which };
    }
    const keep = this.partialTail(buf);
    this.held = buf.slice(buf.length - keep);
    return { text: buf.slice(0, buf.length - keep) };
  }

  /** End of generation without a stop: everything held back is text after all. */
  flush(): string {
    if (this.done !== undefined) return "";
    const t = this.held;
    this.held = "";
    return t;
  }

  // Length of the longest suffix of buf that is a proper prefix of some stop string.
  private partialTail(buf: string): number {
    let best = 0;
    for (const s of this.stops) {
      const max = Math.min(s.length - 1, buf.length);
      for (let k = max; k > best; k--) {
        if (buf.endsWith(s.slice(0, k))) {
          best = k;
          break;
        }
      }
    }
    return best;
  }
}
