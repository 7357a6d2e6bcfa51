// Kernel module entry. Every thread instantiates this module over the same shared memory; work is
// described by a descriptor in memory (op code + i32/f32 args, written by the main thread) and
// `task(desc, tid, nth)` runs thread tid's share of it. The TS side (src/backend/wasm/) owns all
// memory: this module has no static data and allocates nothing.

import { mmQ8_0, mmQ4_0, mmQ4_1, mmQ5_0, mmQ5_1, mmIQ4_NL } from "./matmul";
import { mmQ4_K, mmQ5_K, mmQ6_K, mmIQ4_XS, mmQ2_K, mmQ3_K } from "./matmul-k";
import { mmF32, mmF16, mmBF16 } from "./matmul-float";
import { quantQ8_0, quantQ8_K, quantF16, quantBF16, q8AreaBytes } from "./quantize";
import { siluMul, add, addBias, rmsNorm, rope, setRows } from "./ops";
import { attention } from "./attention";
export { maddProbe } from "./exact";

export { repackQ8_0, repackQ4_0, repackQ4_K, repackQ5_K, repackQ6_K, rowQ8_0, rowQ4_0, rowQ4_K, rowQ5_K, rowQ6_K, rowFloat,
  repackQ4_1, repackQ5_0, repackQ5_1, repackIQ4_NL, repackIQ4_XS, rowQ4_1, rowQ5_0, rowQ5_1, rowIQ4_NL, rowIQ4_XS,
  repackQ2_K, repackQ3_K, rowQ2_K, rowQ3_K } from "./repack";
export { quantQ8_0, quantQ8_K, quantF16, quantBF16, q8AreaBytes };

// Op codes, mirrored in src/backend/wasm/abi.ts.
const OP_MATMUL = 1, OP_QUANT = 2, OP_ATTN = 3, OP_SILU = 4, OP_ADD = 5, OP_RMSNORM = 6, OP_ROPE = 7,
  OP_SETROWS = 8, OP_ADDBIAS = 9, OP_MATMUL_MULTI = 10;

/** OP_MATMUL_MULTI table entry: kind, q, s, cols, rows, out, mode, first unit (i32 each). */
const MM_ENTRY: usize = 32;

// Matmul kernel kinds (abi.ts KERNEL_*).
const K_Q8_0 = 1, K_Q4_0 = 2, K_Q4_K = 3, K_Q6_K = 4, K_F32 = 5, K_F16 = 6, K_BF16 = 7, K_Q5_K = 8,
  K_Q4_1 = 9, K_Q5_0 = 10, K_Q5_1 = 11, K_IQ4_NL = 12, K_IQ4_XS = 13, K_Q2_K = 14, K_Q3_K = 15;

// @ts-ignore: decorator
@inline
function arg(d: usize, i: i32): i32 { return load<i32>(d + (<usize>i << 2)); }
// @ts-ignore: decorator
@inline
function argf(d: usize, i: i32): f32 { return load<f32>(d + (<usize>i << 2)); }

// @ts-ignore: decorator
@inline
function lo(n: i32, tid: i32, nth: i32): i32 { return <i32>((<i64>n * tid) / nth); }

// Work is cut into more chunks than threads and claimed through an atomic counter, so a thread
// that the OS deschedules (2 cores shared with other processes) delays only its current chunk.
// The control block's CLAIM and FIN slots (abi.ts) sit just below the descriptor.
const CLAIM: usize = 6 * 4, FIN: usize = 7 * 4, DESC_OFFSET: usize = 64;

/** Run chunks of the op at d until none are left; returns the op's chunk count. */
export function task(d: usize, tid: i32, nth: i32): i32 {
  const op = arg(d, 0);
  const ctrl = d - DESC_OFFSET;
  let units: i32;
  if (op == OP_MATMUL) units = (arg(d, 5) + 3) >> 2;
  else if (op == OP_MATMUL_MULTI) units = arg(d, 6);
  else if (op == OP_QUANT || op == OP_RMSNORM || op == OP_ADDBIAS) units = arg(d, op == OP_QUANT ? 4 : 3);
  else if (op == OP_ATTN) units = arg(d, 7) * arg(d, 9); // (token, KV head)
  else if (op == OP_SILU || op == OP_ADD) units = (arg(d, 3) + 3) >> 2;
  else if (op == OP_ROPE) units = arg(d, 2) * arg(d, 3);
  else if (op == OP_SETROWS) units = arg(d, 5);
  else return 0;
  const chunks = min<i32>(units, nth == 1 ? 1 : nth * 8);
  for (;;) {
    const c = atomic.add<i32>(ctrl + CLAIM, 1);
    if (c >= chunks) break;
    run(op, d, tid, lo(units, c, chunks), lo(units, c + 1, chunks));
    atomic.add<i32>(ctrl + FIN, 1);
  }
  return chunks;
}

/** Row groups [u0, u1) of one weight times the quantized activations. */
function mm(kind: i32, wq: usize, ws: usize, cols: i32, rows: i32, u0: i32, u1: i32, act: usize, stride: i32, nTok: i32, out: usize, mode: i32): void {
  if (kind == K_Q8_0) mmQ8_0(wq, ws, cols, rows, u0, u1, act, stride, nTok, out, mode);
  else if (kind == K_Q4_0) mmQ4_0(wq, ws, cols, rows, u0, u1, act, stride, nTok, out, mode);
  else if (kind == K_Q4_K) mmQ4_K(wq, ws, cols, rows, u0, u1, act, stride, nTok, out, mode);
  else if (kind == K_Q6_K) mmQ6_K(wq, ws, cols, rows, u0, u1, act, stride, nTok, out, mode);
  else if (kind == K_Q5_K) mmQ5_K(wq, ws, cols, rows, u0, u1, act, stride, nTok, out, mode);
  else if (kind == K_Q4_1) mmQ4_1(wq, ws, cols, rows, u0, u1, act, stride, nTok, out, mode);
  else if (kind == K_Q5_0) mmQ5_0(wq, ws, cols, rows, u0, u1, act, stride, nTok, out, mode);
  else if (kind == K_Q5_1) mmQ5_1(wq, ws, cols, rows, u0, u1, act, stride, nTok, out, mode);
  else if (kind == K_IQ4_NL) mmIQ4_NL(wq, ws, cols, rows, u0, u1, act, stride, nTok, out, mode);
  else if (kind == K_IQ4_XS) mmIQ4_XS(wq, ws, cols, rows, u0, u1, act, stride, nTok, out, mode);
  else if (kind == K_Q2_K) mmQ2_K(wq, ws, cols, rows, u0, u1, act, stride, nTok, out, mode);
  else if (kind == K_Q3_K) mmQ3_K(wq, ws, cols, rows, u0, u1, act, stride, nTok, out, mode);
  else {
    const r0 = u0 * 4, r1 = min<i32>(rows, u1 * 4);
    if (kind == K_F32) mmF32(wq, cols, rows, r0, r1, act, stride, nTok, out, mode);
    else if (kind == K_F16) mmF16(wq, cols, rows, r0, r1, act, stride, nTok, out, mode);
    else if (kind == K_BF16) mmBF16(wq, cols, rows, r0, r1, act, stride, nTok, out, mode);
  }
}

function run(op: i32, d: usize, tid: i32, u0: i32, u1: i32): void {
  if (u0 >= u1) return;
  if (op == OP_MATMUL) {
    mm(arg(d, 1), <usize>arg(d, 2), <usize>arg(d, 3), arg(d, 4), arg(d, 5), u0, u1, <usize>arg(d, 6), arg(d, 7), arg(d, 8), <usize>arg(d, 9), arg(d, 10));
  } else if (op == OP_MATMUL_MULTI) {
    // Several weights over one quantized input: units run through each weight's row groups in turn.
    const table = <usize>arg(d, 2), act = <usize>arg(d, 3), stride = arg(d, 4), nTok = arg(d, 5);
    for (let i = 0; i < arg(d, 1); i++) {
      const e = table + <usize>i * MM_ENTRY;
      const first = arg(e, 7), groups = (arg(e, 4) + 3) >> 2;
      const g0 = max<i32>(u0, first) - first, g1 = min<i32>(u1, first + groups) - first;
      if (g0 < g1) mm(arg(e, 0), <usize>arg(e, 1), <usize>arg(e, 2), arg(e, 3), arg(e, 4), g0, g1, act, stride, nTok, <usize>arg(e, 5), arg(e, 6));
    }
  } else if (op == OP_QUANT) {
    const kind = arg(d, 1), x = <usize>arg(d, 2), n = arg(d, 3), dst = <usize>arg(d, 5), stride = arg(d, 6);
    for (let t = u0; t < u1; t++) {
      const xs = x + (<usize>t * <usize>n << 2), ds = dst + <usize>t * <usize>stride;
      if (kind == 0) quantQ8_0(xs, n, ds);
      else if (kind == 1) quantQ8_K(xs, n, ds);
      else if (kind == 2) quantF16(xs, n, ds);
      else if (kind == 3) quantBF16(xs, n, ds);
      else memory.copy(ds, xs, <usize>n << 2);
    }
  } else if (op == OP_ATTN) {
    const scratch = <usize>arg(d, 14) + <usize>tid * <usize>arg(d, 15);
    attention(<usize>arg(d, 1), <usize>arg(d, 2), <usize>arg(d, 3), arg(d, 4), <usize>arg(d, 5), <usize>arg(d, 6), <usize>arg(d, 16),
      arg(d, 8), arg(d, 9), arg(d, 10), load<f64>(d + 80), arg(d, 17), arg(d, 18), u0, u1, <usize>arg(d, 13), scratch);
  } else if (op == OP_SILU || op == OP_ADD) {
    // Units are quads, so SIMD lanes never straddle chunks.
    const i0 = u0 * 4, i1 = min<i32>(arg(d, 3), u1 * 4);
    if (op == OP_SILU) siluMul(<usize>arg(d, 1), <usize>arg(d, 2), i0, i1, arg(d, 3), <usize>arg(d, 4));
    else add(<usize>arg(d, 1), <usize>arg(d, 2), i0, i1, <usize>arg(d, 4));
  } else if (op == OP_RMSNORM) {
    rmsNorm(<usize>arg(d, 1), <usize>arg(d, 2), u0, u1, arg(d, 4), load<f64>(d + 32), <usize>arg(d, 6));
  } else if (op == OP_ROPE) {
    rope(<usize>arg(d, 1), u0, u1, arg(d, 3), arg(d, 4), <usize>arg(d, 5), arg(d, 6), arg(d, 7));
  } else if (op == OP_SETROWS) {
    setRows(<usize>arg(d, 1), arg(d, 2), arg(d, 3), <usize>arg(d, 4), u0, u1, <usize>arg(d, 6));
  } else if (op == OP_ADDBIAS) {
    addBias(<usize>arg(d, 1), <usize>arg(d, 2), u0, u1, arg(d, 4));
  }
}
