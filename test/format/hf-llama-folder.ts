// A small Llama checkpoint in Hugging Face layout, written by the tests themselves: BF16
// safetensors, config.json, and the fixtures' Llama 3 tokenizer (so the vocabulary is 128,256).

import { mkdir, readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { gunzipSync } from "node:zlib";
import { writeSafetensors, type SafetensorsTensorData } from "../../src/format/safetensors.ts";
import { FIXTURES_URL } from "../fixtures-path.ts";

const LLAMA3_TOK = fileURLToPath(new URL("tokenizer/llama3/", FIXTURES_URL));

export const HF_DIMS = { hidden: 64, heads: 4, kvHeads: 2, ffn: 128, layers: 2, vocab: 128256 } as const;

function bf16Tensor(name: string, shape: number[], seed: number, std: number, mean = 0): SafetensorsTensorData {
  const n = shape.reduce((a, b) => a * b, 1);
  const out = new Uint16Array(n);
  const f = new Float32Array(1), u = new Uint32Array(f.buffer);
  let s = seed >>> 0;
  for (let i = 0; i < n; i++) {
    // sum of uniforms: cheap, deterministic, roughly normal
    let x = 0;
    for (let k = 0; k < 4; k++) {
      s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
      x += s / 2 ** 32 - 0.5;
    }
    f[0] = mean + std * x * 1.7;
    out[i] = u[0]! >>> 16;
  }
  return { name, dtype: "BF16", shape, data: new Uint8Array(out.buffer) };
}

/** Writes the folder and returns its path. */
export async function writeHfLlama(dir: string): Promise<string> {
  const { hidden, heads, kvHeads, ffn, layers, vocab } = HF_DIMS;
  const headDim = hidden / heads;
  await mkdir(dir, { recursive: true });
  await writeFile(join(dir, "config.json"), JSON.stringify({
    architectures: ["LlamaForCausalLM"], model_type: "llama", hidden_size: hidden, intermediate_size: ffn,
    num_attention_heads: heads, num_key_value_heads: kvHeads, num_hidden_layers: layers,
    max_position_embeddings: 2048, rms_norm_eps: 1e-5, rope_theta: 500000.0, vocab_size: vocab,
    tie_word_embeddings: true, torch_dtype: "bfloat16", bos_token_id: 128000, eos_token_id: 128009,
  }, null, 2));
  await writeFile(join(dir, "tokenizer.json"), gunzipSync(await readFile(join(LLAMA3_TOK, "tokenizer.json.gz"))));
  await writeFile(join(dir, "tokenizer_config.json"), await readFile(join(LLAMA3_TOK, "tokenizer_config.json")));
  let seed = 11;
  const ts: SafetensorsTensorData[] = [bf16Tensor("model.embed_tokens.weight", [vocab, hidden], seed++, 1)];
  for (let l = 0; l < layers; l++) {
    const p = `model.layers.${l}.`;
    ts.push(
      bf16Tensor(p + "input_layernorm.weight", [hidden], seed++, 0.1, 1),
      bf16Tensor(p + "self_attn.q_proj.weight", [heads * headDim, hidden], seed++, 0.15),
      bf16Tensor(p + "self_attn.k_proj.weight", [kvHeads * headDim, hidden], seed++, 0.15),
      bf16Tensor(p + "self_attn.v_proj.weight", [kvHeads * headDim, hidden], seed++, 0.15),
      bf16Tensor(p + "self_attn.o_proj.weight", [hidden, heads * headDim], seed++, 0.15),
      bf16Tensor(p + "post_attention_layernorm.weight", [hidden], seed++, 0.1, 1),
      bf16Tensor(p + "mlp.gate_proj.weight", [ffn, hidden], seed++, 0.15),
      bf16Tensor(p + "mlp.up_proj.weight", [ffn, hidden], seed++, 0.15),
      bf16Tensor(p + "mlp.down_proj.weight", [hidden, ffn], seed++, 0.15),
    );
  }
  ts.push(bf16Tensor("model.norm.weight", [hidden], seed++, 0.1, 1));
  await writeFile(join(dir, "model.safetensors"), writeSafetensors(ts, { format: "pt" }));
  return dir;
}
