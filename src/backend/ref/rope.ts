// RoPE angles computed the way llama.cpp's CPU kernel does (ggml_rope_cache_init + rope_yarn):
// the base angle is advanced by repeated f32 multiplication, not by a fresh pow() per pair, and
// the rounding of that recurrence is visible in the last bits of the logits — so we keep it.

import type { RopeParams } from "../types.ts";

const fr = Math.fround;

/** cos/sin for each rotated pair (dims/2 values) at `pos`. */
export function ropeAngles(pos: number, p: RopeParams, cos: Float32Array, sin: Float32Array): void {
  const half = p.dims / 2;
  const thetaScale = fr(Math.pow(p.freqBase, -2 / p.dims));
  let theta = fr(pos);
  const yarn = p.yarn;
  let low = 0, high = 0, extFactor = 0, mscale = 1;
  if (yarn) {
    [low, high] = yarnCorrDims(p.dims, yarn.origContext, p.freqBase, yarn.betaFast, yarn.betaSlow);
    extFactor = yarn.extFactor;
    mscale = yarn.attnFactor;
  }
  // llama.cpp applies YaRN's magnitude correction only when extrapolation is mixed in.
  const mag = extFactor !== 0 ? fr(mscale * fr(1 + 0.1 * Math.log(1 / p.freqScale))) : mscale;
  for (let i = 0; i < half; i++) {
    const ff = p.freqFactors ? p.freqFactors[i]! : 1;
    const thetaExtrap = fr(theta / ff);
    const thetaInterp = fr(p.freqScale * thetaExtrap);
    let t = thetaInterp;
    if (extFactor !== 0) {
      const y = (i - low) / Math.max(0.001, high - low);
      const ramp = fr((1 - Math.min(1, Math.max(0, y))) * extFactor);
      t = fr(thetaInterp * (1 - ramp) + thetaExtrap * ramp);
    }
    cos[i] = fr(Math.cos(t) * mag);
    sin[i] = fr(Math.sin(t) * mag);
    theta = fr(theta * thetaScale);
  }
}

function yarnCorrDims(dims: number, origCtx: number, base: number, betaFast: number, betaSlow: number): [number, number] {
  const corr = (nRot: number) => (dims * Math.log(origCtx / (nRot * 2 * Math.PI))) / (2 * Math.log(base));
  return [Math.max(0, Math.floor(corr(betaFast))), Math.min(dims - 1, Math.ceil(corr(betaSlow)))];
}
