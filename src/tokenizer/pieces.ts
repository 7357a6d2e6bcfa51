// Token → bytes, following llama.cpp's token_to_piece: normal SPM tokens turn "▁" back into a
// space, normal byte-level tokens map their alphabet back to bytes, <0xXX> byte tokens are one
// byte, user-defined tokens are their text, control and unknown tokens are their text only when
// special tokens are rendered, and unused tokens are nothing.

import { byteLevelDecode } from "./byte-level.ts";
import { TokenAttr, TokenizerError } from "./vocab.ts";
import type { Vocab } from "./vocab.ts";

const EMPTY = new Uint8Array(0);
const utf8 = new TextEncoder();
const BYTE_TOKEN = /^<0x([0-9A-Fa-f]{2})>$/;

export class Pieces {
  readonly #vocab: Vocab;
  readonly #cache: (Uint8Array | undefined)[];

  constructor(vocab: Vocab) {
    this.#vocab = vocab;
    this.#cache = new Array(vocab.tokens.length);
  }

  /** Bytes of token `id`; control/unknown tokens are empty unless `renderSpecial`. */
  bytes(id: number, renderSpecial: boolean): Uint8Array {
    const attrs = this.#vocab.attrs;
    if (!Number.isInteger(id) || id < 0 || id >= attrs.length) {
      throw new TokenizerError(`token id ${id} is outside the vocabulary of ${attrs.length} tokens`);
    }
    if (!renderSpecial && attrs[id]! & (TokenAttr.CONTROL | TokenAttr.UNKNOWN)) return EMPTY;
    let b = this.#cache[id];
    if (b === undefined) {
      b = this.#compute(id);
      this.#cache[id] = b;
    }
    return b;
  }

  #compute(id: number): Uint8Array {
    const v = this.#vocab;
    const attr = v.attrs[id]!;
    const text = v.tokens[id]!;
    if (attr & (TokenAttr.CONTROL | TokenAttr.UNKNOWN | TokenAttr.USER_DEFINED)) return utf8.encode(text);
    if (attr & TokenAttr.NORMAL) {
      return v.model === "llama" ? utf8.encode(text.replaceAll("\u2581", " ")) : byteLevelDecode(text);
    }
    if (attr & TokenAttr.BYTE) {
      const m = BYTE_TOKEN.exec(text);
      return m ? Uint8Array.of(parseInt(m[1]!, 16)) : EMPTY;
    }
    return EMPTY;
  }
}
