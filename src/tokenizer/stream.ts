// Incremental detokenization for streaming output. Tokens carry bytes, and one character may be
// spread over several byte tokens (<0xE4><0xBD><0xA0>) or byte-level fragments; the decoder holds
// an incomplete UTF-8 sequence back until its last byte arrives, so every string it returns is
// whole characters, each emitted once. Concatenating all outputs (and `end()`) equals the
// one-shot decode of the same ids with the same options, however the ids are split.

import type { Pieces } from "./pieces.ts";

export interface DecodeOptions {
  /** Leave out control and unknown tokens (<s>, <|eot_id|>, …). Default false: render their text. */
  readonly skipSpecial?: boolean;
  /**
   * Remove one leading space from the first token, undoing the SentencePiece dummy prefix.
   * Default: the vocabulary's add_space_prefix for `decode`, false for a stream decoder.
   */
  readonly stripLeadingSpace?: boolean;
}

export class StreamDecoder {
  readonly #pieces: Pieces;
  readonly #render: boolean;
  #strip: boolean;
  readonly #utf8 = new TextDecoder("utf-8", { ignoreBOM: true });

  constructor(pieces: Pieces, options: DecodeOptions = {}) {
    this.#pieces = pieces;
    this.#render = !(options.skipSpecial ?? false);
    this.#strip = options.stripLeadingSpace ?? false;
  }

  /** Feeds one token or several; returns the text completed by them (possibly ""). */
  write(ids: number | ArrayLike<number>): string {
    if (typeof ids === "number") return this.#utf8.decode(this.#piece(ids), { stream: true });
    if (ids.length === 1) return this.#utf8.decode(this.#piece(ids[0]!), { stream: true });
    let total = 0;
    const parts: Uint8Array[] = [];
    for (let i = 0; i < ids.length; i++) {
      const p = this.#piece(ids[i]!);
      parts.push(p);
      total += p.length;
    }
    const all = new Uint8Array(total);
    let at = 0;
    for (const p of parts) {
      all.set(p, at);
      at += p.length;
    }
    return this.#utf8.decode(all, { stream: true });
  }

  /** Ends the stream: an incomplete trailing sequence comes out as U+FFFD. */
  end(): string {
    return this.#utf8.decode();
  }

  #piece(id: number): Uint8Array {
    let p = this.#pieces.bytes(id, this.#render);
    if (this.#strip) {
      // As in llama.cpp the first token consumes the strip even when it renders as nothing.
      this.#strip = false;
      if (p.length > 0 && p[0] === 0x20) p = p.subarray(1);
    }
    return p;
  }
}
