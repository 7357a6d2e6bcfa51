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
  String.raw`${S}?[A-Za-z\u{B5}\u{C0}-\u{D6}\u{D8}-\u{F6}\u{F8}-\u{1BA}\u{1BC}-\u{1BF}\u{1C4}-\u{293}\u{295}-\u{2AF}\u{370}-\u{373}\u{376}\u{377}\u{37B}-\u{37D}\u{37F}\u{386}\u{388}-\u{38A}\u{38C}\u{38E}-\u{3A1}\u{3A3}-\u{3F5}\u{3F7}-\u{481}\u{48A}-\u{52F}\u{531}-\u{556}\u{10A0}-\u{10C5}\u{13A0}-\u{13F5}\u{13F8}-\u{13FD}\u{1C90}-\u{1CBA}\u{1CBD}-\u{1CBF}\u{1D00}-\u{1D2B}\u{1D6B}-\u{1D77}\u{1D79}-\u{1D9A}\u{1E00}-\u{1F15}\u{1F18}-\u{1F1D}\u{1F20}-\u{1F45}\u{1F48}-\u{1F4D}\u{1F50}-\u{1F57}\u{1F59}\u{1F5B}\u{1F5D}\u{1F5F}-\u{1F7D}\u{1F80}-\u{1FB4}\u{1FB6}-\u{1FBC}\u{1FBE}\u{1FC2}-\u{1FC4}\u{1FC6}-\u{1FCC}\u{1FD0}-\u{1FD3}\u{1FD6}-\u{1FDB}\u{1FE0}-\u{1FEC}\u{1FF2}-\u{1FF4}\u{1FF6}-\u{1FFC}\u{2102}\u{2107}\u{210A}-\u{2113}\u{2115}\u{2119}-\u{211D}\u{2124}\u{2126}\u{2128}\u{212A}-\u{212D}\u{212F}-\u{2134}\u{2139}\u{213C}-\u{213F}\u{2145}-\u{2149}\u{214E}\u{2183}\u{2184}\u{2C00}-\u{2C7B}\u{2C7E}-\u{2CE4}\u{2CEB}-\u{2CEE}\u{2CF2}\u{2CF3}\u{A640}-\u{A66D}\u{A680}-\u{A69B}\u{A722}-\u{A76F}\u{A771}-\u{A787}\u{A78B}-\u{A78E}\u{AB70}-\u{ABBF}\u{FB00}-\u{FB06}\u{FB13}-\u{FB17}\u{FF21}-\u{FF3A}\u{FF41}-\u{FF5A}\u{10400}-\u{1044F}\u{104B0}-\u{104D3}\u{104D8}-\u{104FB}\u{10C80}-\u{10CB2}\u{10CC0}-\u{10CF2}\u{118A0}-\u{118DF}\u{1E900}-\u{1E943}]+`,
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
