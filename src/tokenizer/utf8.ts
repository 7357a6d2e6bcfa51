// UTF-8 encoding into a reusable buffer: the encoders turn many short words into bytes, and a
// hand loop avoids allocating a Uint8Array per word. Input must be well-formed (no lone
// surrogates); callers run String.prototype.toWellFormed first.

export class Utf8Buffer {
  bytes = new Uint8Array(256);
  length = 0;

  /** Encodes `s` into `bytes[0..length)`. */
  encode(s: string): void {
    const max = s.length * 3;
    if (this.bytes.length < max) this.bytes = new Uint8Array(Math.max(max, this.bytes.length * 2));
    const out = this.bytes;
    let n = 0;
    for (let i = 0; i < s.length; i++) {
      let c = s.charCodeAt(i);
      if (c < 0x80) {
        out[n++] = c;
      } else if (c < 0x800) {
        out[n++] = 0xc0 | (c >> 6);
        out[n++] = 0x80 | (c & 63);
      } else if (c >= 0xd800 && c < 0xdc00 && i + 1 < s.length) {
        c = 0x10000 + ((c - 0xd800) << 10) + (s.charCodeAt(++i) - 0xdc00);
        out[n++] = 0xf0 | (c >> 18);
        out[n++] = 0x80 | ((c >> 12) & 63);
        out[n++] = 0x80 | ((c >> 6) & 63);
        out[n++] = 0x80 | (c & 63);
      } else {
        out[n++] = 0xe0 | (c >> 12);
        out[n++] = 0x80 | ((c >> 6) & 63);
        out[n++] = 0x80 | (c & 63);
      }
    }
    this.length = n;
  }
}

/** Bytes of one code point's UTF-8 encoding. */
export function codePointBytes(cp: number): number[] {
  if (cp < 0x80) return [cp];
  if (cp < 0x800) return [0xc0 | (cp >> 6), 0x80 | (cp & 63)];
  if (cp < 0x10000) return [0xe0 | (cp >> 12), 0x80 | ((cp >> 6) & 63), 0x80 | (cp & 63)];
  return [0xf0 | (cp >> 18), 0x80 | ((cp >> 12) & 63), 0x80 | ((cp >> 6) & 63), 0x80 | (cp & 63)];
}
