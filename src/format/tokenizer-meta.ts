// The vocabulary part of the GGUF format shared by every reader and by the tokenizer layer:
// token type values (`tokenizer.ggml.token_type`) and the error for missing or inconsistent
// tokenizer metadata.

import { UserError } from "../errors.ts";

export class TokenizerError extends UserError {
  constructor(message: string) {
    super(message);
    this.name = "TokenizerError";
  }
}

/** `tokenizer.ggml.token_type` values (llama.cpp's llama_token_type). */
export const TokenType = {
  UNDEFINED: 0,
  NORMAL: 1,
  UNKNOWN: 2,
  CONTROL: 3,
  USER_DEFINED: 4,
  UNUSED: 5,
  BYTE: 6,
} as const;
