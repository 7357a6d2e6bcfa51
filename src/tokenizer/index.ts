// The tokenizer layer's entry point: one Tokenizer for SentencePiece (Llama 1/2) and byte-level
// BPE (Llama 3) vocabularies, built from GGUF-named metadata. Encoding follows llama.cpp's
// llama_tokenize (special-token partition, BOS/EOS per the vocabulary's flags, SPM dummy prefix);
// decoding follows llama_detokenize.

import type { MetaValue } from "../format/model-file.ts";
import { BpeEncoder } from "./bpe.ts";
import { Pieces } from "./pieces.ts";
import { SpecialTokens } from "./special.ts";
import { SpmEncoder } from "./spm.ts";
import { StreamDecoder } from "./stream.ts";
import type { DecodeOptions } from "./stream.ts";
import { NO_TOKEN, TokenAttr, vocabFromMetadata } from "./vocab.ts";
import type { Vocab } from "./vocab.ts";

export { TokenizerError, TokenType, TokenAttr, NO_TOKEN } from "./vocab.ts";
export type { Vocab, VocabModel } from "./vocab.ts";
export { StreamDecoder } from "./stream.ts";
export type { DecodeOptions } from "./stream.ts";

export interface EncodeOptions {
  /** Add BOS/EOS as the vocabulary's add_bos_token/add_eos_token say. Default true. */
  readonly addSpecial?: boolean;
  /** Recognise control tokens written in the text (<|eot_id|>, <s>, …). Default false. */
  readonly parseSpecial?: boolean;
}

export interface FullDecodeOptions extends DecodeOptions {
  /** llama.cpp's clean-up of spaces before punctuation and contractions, when the vocabulary enables it. Default false. */
  readonly cleanSpaces?: boolean;
}

const utf8Decoder = new TextDecoder("utf-8", { ignoreBOM: true });

export class Tokenizer {
  readonly vocab: Vocab;
  readonly #special: SpecialTokens;
  readonly #pieces: Pieces;
  readonly #spm?: SpmEncoder;
  readonly #bpe?: BpeEncoder;

  constructor(vocab: Vocab, name?: string) {
    this.vocab = vocab;
    this.#special = new SpecialTokens(vocab);
    this.#pieces = new Pieces(vocab);
    if (vocab.model === "llama") this.#spm = new SpmEncoder(vocab, name);
    else this.#bpe = new BpeEncoder(vocab, name);
  }

  get vocabSize(): number {
    return this.vocab.tokens.length;
  }
  get bos(): number | undefined {
    return orUndefined(this.vocab.bos);
  }
  get eos(): number | undefined {
    return orUndefined(this.vocab.eos);
  }
  get eot(): number | undefined {
    return orUndefined(this.vocab.eot);
  }
  get eom(): number | undefined {
    return orUndefined(this.vocab.eom);
  }
  get unk(): number | undefined {
    return orUndefined(this.vocab.unk);
  }
  get pad(): number | undefined {
    return orUndefined(this.vocab.pad);
  }
  /** Tokens that end generation. */
  get eogIds(): ReadonlySet<number> {
    return this.vocab.eog;
  }
  get addBos(): boolean {
    return this.vocab.addBos;
  }
  get addEos(): boolean {
    return this.vocab.addEos;
  }
  get chatTemplate(): string | undefined {
    return this.vocab.chatTemplate;
  }

  /** Merge-queue operations done by all encodes so far: grows as n log n of the input (complexity tests). */
  get mergeSteps(): number {
    return (this.#spm ?? this.#bpe)!.steps;
  }

  isEog(id: number): boolean {
    return this.vocab.eog.has(id);
  }
  /** Control or unknown token (never produced from plain text). */
  isSpecial(id: number): boolean {
    return (this.vocab.attrs[id]! & (TokenAttr.CONTROL | TokenAttr.UNKNOWN)) !== 0;
  }
  /** The token as stored in the vocabulary ("▁Hello", "ĠHello", "<0x0A>"). */
  tokenText(id: number): string {
    this.#pieces.bytes(id, true); // range check
    return this.vocab.tokens[id]!;
  }
  /** Id of an exact vocabulary entry, if any. */
  tokenId(text: string): number | undefined {
    return this.vocab.textToId.get(text);
  }

  encode(text: string, options: EncodeOptions = {}): Int32Array {
    const addSpecial = options.addSpecial ?? true;
    const v = this.vocab;
    const out: number[] = [];
    if (addSpecial && v.addBos) out.push(v.bos);
    const fragments = this.#special.partition(text.toWellFormed(), options.parseSpecial ?? false);
    if (this.#spm) {
      let prevSpecial = true;
      for (const f of fragments) {
        if (typeof f === "number") {
          out.push(f);
          prevSpecial = true;
          continue;
        }
        const s = v.addSpacePrefix && prevSpecial ? " " + f : f;
        this.#spm.encode(s.replaceAll(" ", "\u2581"), out);
        prevSpecial = false;
      }
    } else {
      const bpe = this.#bpe!;
      for (const f of fragments) {
        if (typeof f === "number") out.push(f);
        else bpe.encode(f, out);
      }
    }
    if (addSpecial && v.addEos) out.push(v.eos);
    return Int32Array.from(out);
  }

  /** The bytes token `id` stands for (control tokens: their text). */
  pieceBytes(id: number, options: { skipSpecial?: boolean } = {}): Uint8Array {
    return this.#pieces.bytes(id, !(options.skipSpecial ?? false));
  }

  /** The text of one token, as llama.cpp's token_to_piece with special tokens rendered. A lone part of a multi-byte character shows as U+FFFD. */
  tokenToPiece(id: number): string {
    return utf8Decoder.decode(this.#pieces.bytes(id, true));
  }

  decode(ids: ArrayLike<number>, options: FullDecodeOptions = {}): string {
    const d = new StreamDecoder(this.#pieces, {
      skipSpecial: options.skipSpecial ?? false,
      stripLeadingSpace: options.stripLeadingSpace ?? this.vocab.addSpacePrefix,
    });
    const text = d.write(ids) + d.end();
    return options.cleanSpaces && this.vocab.cleanSpaces ? cleanSpaces(text) : text;
  }

  createStreamDecoder(options: DecodeOptions = {}): StreamDecoder {
    return new StreamDecoder(this.#pieces, options);
  }
}

function orUndefined(id: number): number | undefined {
  return id === NO_TOKEN ? undefined : id;
}

/** llama.cpp's three clean-up passes of llama_detokenize (clean_spaces). */
function cleanSpaces(s: string): string {
  return s
    .replace(/ (?=[?!.,])/g, "")
    .replace(/ ' /g, "'")
    .replace(/ '(?=s|m|re|ve)/g, "'");
}

/** A tokenizer for the vocabulary in GGUF metadata (a model file, a vocab-only file, or a mapped tokenizer.json). */
export function tokenizerFromMetadata(metadata: ReadonlyMap<string, MetaValue>, name?: string): Tokenizer {
  return new Tokenizer(vocabFromMetadata(metadata, name), name);
}
