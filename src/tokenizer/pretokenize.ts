// Pre-tokenization for byte-level BPE: the regexes that cut text into words before merging,
// keyed by `tokenizer.ggml.pre` exactly as llama.cpp chooses them. Several regexes apply in turn,
// each to the pieces the previous one produced; text that no match covers stays a piece of its
// own (llama.cpp's unicode_regex_split).
//
// JavaScript's \s is not Unicode White_Space (it adds U+FEFF and lacks U+0085), while llama.cpp
// and the Rust/Oniguruma engines behind tokenizer.json use White_Space, so whitespace is spelled
// out. llama.cpp also rewrites the `(?i:'s|…)` contractions to explicit case pairs; so do we.

const WS = String.raw`\t-\r \x85\xA0\u1680\u2000-\u200A\u2028\u2029\u202F\u205F\u3000`;
const S = `[${WS}]`;
const NS = `[^${WS}]`;
const CONTRACTIONS = String.raw`(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])`;

const LLAMA3 = [
  CONTRACTIONS,
  String.raw`[^\r\n\p{L}\p{N}]?\p{L}+`,
  String.raw`\p{N}{1,3}`,
  String.raw` ?[^${WS}\p{L}\p{N}]+[\r\n]*`,
  String.raw`${S}*[\r\n]+`,
  `${S}+(?!${NS})`,
  `${S}+`,
].join("|");

const QWEN2 = [
  CONTRACTIONS,
  String.raw`[^\r\n\p{L}\p{N}]?\p{L}+`,
  String.raw`\p{N}`,
  String.raw` ?[^${WS}\p{L}\p{N}]+[\r\n]*`,
  String.raw`${S}*[\r\n]+`,
  `${S}+(?!${NS})`,
  `${S}+`,
].join("|");

const GPT2 = [
  "'s|'t|'re|'ve|'m|'ll|'d",
  String.raw` ?\p{L}+`,
  String.raw` ?\p{N}+`,
  String.raw` ?[^${WS}\p{L}\p{N}]+`,
  `${S}+(?!${NS})`,
].join("|");

const DEEPSEEK_LLM = [
  String.raw`[\r\n]`,
  String.raw`${S}?[A-Za-zµÀ-ÖØ-öø-ƺƼ-ƿǄ-ʓʕ-ʯͰ-ͳͶͷͻ-ͽͿΆΈ-ΊΌΎ-ΡΣ-ϵϷ-ҁҊ-ԯԱ-ՖႠ-ჅᎠ-Ᏽᏸ-ᏽᲐ-ᲺᲽ-Ჿᴀ-ᴫᵫ-ᵷᵹ-ᶚḀ-ἕἘ-Ἕἠ-ὅὈ-Ὅὐ-ὗὙὛὝὟ-ώᾀ-ᾴᾶ-ᾼιῂ-ῄῆ-ῌῐ-ΐῖ-Ίῠ-Ῥῲ-ῴῶ-ῼℂℇℊ-ℓℕℙ-ℝℤΩℨK-ℭℯ-ℴℹℼ-ℿⅅ-ⅉⅎↃↄⰀ-ⱻⱾ-ⳤⳫ-ⳮⳲⳳꙀ-ꙭꚀ-ꚛꜢ-ꝯꝱ-ꞇꞋ-ꞎꭰ-ꮿﬀ-ﬆﬓ-ﬗＡ-Ｚａ-ｚ𐐀-𐑏𐒰-𐓓𐓘-𐓻𐲀-𐲲𐳀-𐳲𑢠-𑣟𞤀-𞥃]+`,
  String.raw`${S}?[!-/:-~！-／：-～‘-‟　-。]+`,
  `${S}+$`,
  "[一-龥ࠀ-一가-퟿]+",
  String.raw`\p{N}+`,
];

const DEFAULT = [String.raw`[\p{P}\$\+<=>\^~\|]+`, GPT2, String.raw`\p{N}+`, "[0-9][0-9][0-9]"];

const TABLE = new Map<string, readonly string[]>([
  ["default", DEFAULT],
  ["llama3", [LLAMA3]],
  ["llama-v3", [LLAMA3]],
  ["llama-bpe", [LLAMA3]],
  ["gpt-2", [GPT2]],
  ["qwen2", [QWEN2]],
  ["deepseek-r1-qwen", [QWEN2]],
  ["deepseek-llm", DEEPSEEK_LLM],
]);

export function preTokenizerNames(): string[] {
  return [...TABLE.keys()];
}

export type WordSink = (word: string) => void;

/** Splits text into BPE words for one pre-tokenizer. */
export class PreTokenizer {
  readonly name: string;
  readonly #regexes: RegExp[];

  constructor(name: string) {
    const sources = TABLE.get(name);
    if (!sources) throw new Error(`no pre-tokenizer named "${name}"`);
    this.name = name;
    this.#regexes = sources.map((s) => new RegExp(s, "gu"));
  }

  /** Calls `sink` with every word of `text`, in order. */
  split(text: string, sink: WordSink): void {
    if (text.length === 0) return;
    const regexes = this.#regexes;
    if (regexes.length === 1) {
      splitOne(regexes[0]!, text, sink);
      return;
    }
    let pieces = [text];
    for (let r = 0; r < regexes.length; r++) {
      const next: string[] = [];
      const push = (w: string): void => void next.push(w);
      for (const p of pieces) splitOne(regexes[r]!, p, push);
      pieces = next;
    }
    for (const p of pieces) sink(p);
  }

  /** The words as an array (tests, debugging). */
  words(text: string): string[] {
    const out: string[] = [];
    this.split(text, (w) => void out.push(w));
    return out;
  }
}

function splitOne(re: RegExp, text: string, sink: WordSink): void {
  re.lastIndex = 0;
  let last = 0;
  for (;;) {
    const m = re.exec(text);
    if (m === null) break;
    const start = m.index;
    const word = m[0];
    if (word.length === 0) {
      // An empty match would loop forever; step over one code point.
      re.lastIndex = start + (text.codePointAt(start)! > 0xffff ? 2 : 1);
      continue;
    }
    if (start > last) sink(text.slice(last, start));
    sink(word);
    last = start + word.length;
  }
  if (last < text.length) sink(last === 0 ? text : text.slice(last));
}
