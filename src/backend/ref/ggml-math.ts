// Elementwise math as llama.cpp's x86 AVX-512 CPU backend computes it, so the reference backend
// reproduces its bits: `ggml_v_expf` (a polynomial, not libm's expf) behind softmax and SiLU.
// Each step is one f32 operation; fma is emulated in double (see vecdot.ts).

const fr = Math.fround;
const fma = (a: number, b: number, c: number): number => fr(a * b + c);

// ggml_v_expf's constants (vec.h, "adapted from arm limited optimized routine"; C hex floats
// 0x1.8p23, 0x1.715476p+0, 0x1.62e4p-1, 0x1.7f7d1cp-20, 0x1.0e4020p-7, 0x1.573e2ep-5,
// 0x1.555e66p-3, 0x1.fffdb6p-2, 0x1.ffffecp-1 written out in decimal).
const R = 12582912.0;
const LOG2E = fr(1.4426950216293335);
const LN2_HI = fr(0.693145751953125);
const LN2_LO = fr(1.428606765330187e-06);
const C5 = fr(0.008247390389442444), C4 = fr(0.04189976677298546), C3 = fr(0.16668395698070526), C2 = fr(0.4999912679195404), C1 = fr(0.9999994039535522);

/** `ggml_v_expf` (AVX-512 lane): e^x via n = round(x·log2 e), a degree-5 polynomial and scalef. */
export function vExpf(x: number): number {
  const z = fma(x, LOG2E, R);
  const n = fr(z - R);
  const b = fma(-n, LN2_LO, fma(-n, LN2_HI, x));
  if (!(Math.abs(n) <= 192)) return n <= 0 ? 0 : Number.isNaN(n) ? n : Infinity;
  const u = fr(b * b);
  const j = fma(fma(fma(C5, b, C4), u, fma(C3, b, C2)), u, fma(C1, b, 1));
  return fr(j * 2 ** n);
}

/** `ggml_v_silu`: x / (1 + e^−x) with `ggml_v_expf`. */
export function vSilu(x: number): number {
  return fr(x / fr(1 + vExpf(fr(0 - x))));
}

/** libm `expf`/`ggml_silu_f32` for the scalar tails of the vector loops (n mod 16 values). */
export function expf(x: number): number {
  return fr(Math.exp(x));
}

export function siluScalar(x: number): number {
  return fr(x / fr(1 + expf(-x)));
}
