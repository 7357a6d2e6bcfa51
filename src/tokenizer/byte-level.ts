// GPT-2's byte-level alphabet: every byte gets a printable code point so that byte sequences can
// live in a string vocabulary. Printable Latin-1 bytes stand for themselves; the other 68 bytes
// are moved, in order, to U+0100 and up (space becomes "Ġ", newline "Ċ").

export const byteToChar: readonly string[] = (() => {
  const out: string[] = new Array(256);
  let next = 256;
  for (let b = 0; b < 256; b++) {
    const printable = (b >= 0x21 && b <= 0x7e) || (b >= 0xa1 && b <= 0xac) || (b >= 0xae && b <= 0xff);
    out[b] = String.fromCharCode(printable ? b : next++);
  }
  return out;
})();

/** Code point → byte, or -1 for code points outside the alphabet. */
const charToByteTable: Int16Array = (() => {
  const t = new Int16Array(324).fill(-1);
  for (let b = 0; b < 256; b++) t[byteToChar[b]!.charCodeAt(0)] = b;
  return t;
})();

export function charToByte(codePoint: number): number {
  return codePoint < charToByteTable.length ? charToByteTable[codePoint]! : -1;
}

const utf8 = new TextEncoder();

/**
 * The bytes a byte-level token stands for. Code points outside the alphabet (possible only in a
 * damaged or hand-made vocabulary) pass through as their own UTF-8.
 */
export function byteLevelDecode(text: string): Uint8Array {
  const out: number[] = [];
  for (const ch of text) {
    const cp = ch.codePointAt(0)!;
    const b = charToByte(cp);
    if (b >= 0) out.push(b);
    else for (const x of utf8.encode(ch)) out.push(x);
  }
  return Uint8Array.from(out);
}

export function byteLevelEncode(bytes: Uint8Array): string {
  let s = "";
  for (let i = 0; i < bytes.length; i++) s += byteToChar[bytes[i]!]!;
  return s;
}
