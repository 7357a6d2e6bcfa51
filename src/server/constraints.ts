// Token constraints for structured output: response_format (json_object / json_schema) and
// tool_choice that forces a call.

import type { Model } from "../engine/model.ts";
import type { TokenConstraint } from "../sample/sampler.ts";
import type { Tool } from "../chat/types.ts";
import type { ChatSetup } from "./chat-prompt.ts";
import { ApiError } from "./errors.ts";
import type { ResponseFormat } from "./schemas.ts";

export function responseConstraint(_model: Model, _format: ResponseFormat): (() => TokenConstraint) | undefined {
  throw new ApiError(400, "response_format is not supported yet", { param: "response_format" });
}

export function toolChoiceConstraint(
  _model: Model,
  _chat: ChatSetup,
  _tools: readonly Tool[],
  _choice: "required" | { type: "function"; function: { name: string } },
): (() => TokenConstraint) | undefined {
  throw new ApiError(400, "forcing tool_choice is not supported yet", { param: "tool_choice" });
}
