// Deterministic test inputs shared by the quantization and dot-product tests (mulberry32 +
// Box–Muller). The expected hashes in those tests were computed from exactly these values.

export function seededNormal(n: number, seed: number): Float32Array {
  let s = seed >>> 0;
  const next = (): number => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  const out = new Float32Array(n);
  for (let i = 0; i < n; i += 2) {
    const u = 1 - next();
    const v = next();
    const r = Math.sqrt(-2 * Math.log(u));
    out[i] = r * Math.cos(2 * Math.PI * v);
    if (i + 1 < n) out[i + 1] = r * Math.sin(2 * Math.PI * v);
  }
  return out;
}

/** 16 super-blocks of awkward content: zeros, constants, one sign, tiny, huge, outliers, ties. */
export function edgeVector(): Float32Array {
  const x = seededNormal(256 * 16, 7);
  for (let i = 0; i < 256; i++) x[i] = 0;
  for (let i = 256; i < 512; i++) x[i] = 0.5;
  for (let i = 512; i < 768; i++) x[i] = -Math.abs(x[i]);
  for (let i = 768; i < 1024; i++) x[i] = Math.abs(x[i]) * 1e-3;
  for (let i = 1024; i < 1280; i++) x[i] *= 1e4;
  x[1300] = 100;
  x[1400] = -250;
  for (let i = 1536; i < 1792; i++) x[i] = (i % 7) - 3;
  for (let i = 1792; i < 2048; i++) x[i] *= 1e-30;
  for (let i = 2048; i < 2080; i++) x[i] = 0;
  return x;
}
