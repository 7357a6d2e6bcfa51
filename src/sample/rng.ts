// The seeded generator of the sampler: the 32-bit Mersenne Twister (mt19937) that llama.cpp's
// dist sampler uses, with uniform doubles made the way libstdc++'s
// std::uniform_real_distribution<double>(0, 1) makes them (two 32-bit draws). Same seed, same
// stream as llama.cpp, on every machine.

const N = 624;
const M = 397;

export class Mt19937 {
  private readonly state = new Uint32Array(N);
  private index = N;

  constructor(seed: number) {
    this.seed(seed);
  }

  seed(seed: number): void {
    const s = this.state;
    s[0] = seed >>> 0;
    for (let i = 1; i < N; i++) {
      const prev = s[i - 1]! ^ (s[i - 1]! >>> 30);
      // 1812433253 * prev + i in 32-bit arithmetic, split to stay exact in doubles
      s[i] = (((((prev & 0xffff0000) >>> 16) * 1812433253) << 16) + (prev & 0x0000ffff) * 1812433253 + i) >>> 0;
    }
    this.index = N;
  }

  private twist(): void {
    const s = this.state;
    for (let i = 0; i < N; i++) {
      const y = (s[i]! & 0x80000000) | (s[(i + 1) % N]! & 0x7fffffff);
      s[i] = s[(i + M) % N]! ^ (y >>> 1) ^ (y & 1 ? 0x9908b0df : 0);
    }
    this.index = 0;
  }

  nextU32(): number {
    if (this.index >= N) this.twist();
    let y = this.state[this.index++]!;
    y ^= y >>> 11;
    y ^= (y << 7) & 0x9d2c5680;
    y ^= (y << 15) & 0xefc60000;
    y ^= y >>> 18;
    return y >>> 0;
  }

  /** A double in [0, 1), as std::generate_canonical<double, 53> over this engine. */
  nextDouble(): number {
    const lo = this.nextU32();
    const hi = this.nextU32();
    const r = (lo + hi * 4294967296) / 18446744073709551616;
    return r >= 1 ? 1 - Number.EPSILON / 2 : r;
  }
}

/** A random 32-bit seed when the caller gives none (crypto, never Math.random). */
export function randomSeed(): number {
  const b = new Uint32Array(1);
  crypto.getRandomValues(b);
  return b[0]!;
}
