// The contract between the TS side and the kernel module (kernels/index.ts): memory map, control
// block, op codes and descriptor argument order. Keep the two files in step.

/** Bytes below this belong to the kernel module (it has no static data; the gap is a safety margin). */
export const CTRL_BASE = 65536;
/** Control block: i32 slots, then the op descriptor. */
// GEN is a sequence number: odd while the main thread writes a descriptor, even once published.
// ACTIVE counts workers inside an op; CLAIM/FIN are the chunk counters (kernels/index.ts). SHARD
// names the memory (shards.ts) whose descriptor and CLAIM/FIN the op uses; every other slot is read
// in shard 0's control block only.
export const CTRL = { GEN: 0, ACTIVE: 1, SLEEPERS: 2, EXIT: 3, NTH: 4, ERROR: 5, CLAIM: 6, FIN: 7, SHARD: 8 } as const;
export const DESC_OFFSET = 64;
export const DESC_SLOTS = 32;
export const HEAP_BASE = 131072;
/** wasm32 ceiling: the module declares this maximum and an imported memory must match it. */
export const MAX_PAGES = 65536;
/** Readable bytes after each repacked quant and scale area: decode kernels load ahead of their streams (kernels/util.ts PF). */
export const WEIGHT_PAD = 512;

export const OP = { MATMUL: 1, QUANT: 2, ATTN: 3, SILU: 4, ADD: 5, RMSNORM: 6, ROPE: 7, SETROWS: 8, ADDBIAS: 9, MATMUL_MULTI: 10 } as const;

export const KERNEL = { Q8_0: 1, Q4_0: 2, Q4_K: 3, Q6_K: 4, F32: 5, F16: 6, BF16: 7, Q5_K: 8,
  Q4_1: 9, Q5_0: 10, Q5_1: 11, IQ4_NL: 12, IQ4_XS: 13, Q2_K: 14, Q3_K: 15 } as const;

/** Matmul descriptor slot 10: which llama.cpp kernel's arithmetic to reproduce (kernels/matmul.ts). */
export const MODE = { VEC: 0, REPACK: 1, TINY: 2, IQP: 3 } as const;

/** Activation formats produced by OP.QUANT (the kernel's `kind` argument); COPY means plain f32. */
export const ACT = { Q8_0: 0, Q8_K: 1, F16: 2, BF16: 3, F32: 4 } as const;
