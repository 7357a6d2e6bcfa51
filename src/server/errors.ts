// Errors in OpenAI's JSON shape: { "error": { "message", "type", "param", "code" } }, with the
// HTTP status OpenAI's clients map to their exception classes (400 BadRequest, 401
// Authentication, 404 NotFound, 413, 429 RateLimit, 503).

import { isUserError } from "../errors.ts";
import { SchedulerBusyError } from "../engine/scheduler.ts";

export class ApiError extends Error {
  readonly status: number;
  readonly type: string;
  readonly param: string | null;
  readonly code: string | null;
  constructor(status: number, message: string, opts: { type?: string; param?: string | null; code?: string | null } = {}) {
    super(message);
    this.name = "ApiError";
    this.status = status;
    this.type = opts.type ?? defaultType(status);
    this.param = opts.param ?? null;
    this.code = opts.code ?? null;
  }

  toJSON() {
    return { error: { message: this.message, type: this.type, param: this.param, code: this.code } };
  }
}

function defaultType(status: number): string {
  if (status === 401) return "authentication_error";
  if (status === 404) return "not_found_error";
  if (status === 429) return "rate_limit_error";
  if (status >= 500) return status === 503 ? "unavailable_error" : "server_error";
  return "invalid_request_error";
}

/** Any thrown value as an ApiError: user mistakes are 400, a full queue 503, the rest 500. */
export function toApiError(e: unknown): ApiError {
  if (e instanceof ApiError) return e;
  if (e instanceof SchedulerBusyError) return new ApiError(503, e.message, { code: "server_busy" });
  if (isUserError(e)) return new ApiError(400, e.message);
  return new ApiError(500, "internal server error: " + (e instanceof Error ? e.message : String(e)));
}

export function errorResponse(e: unknown, headers: Record<string, string> = {}): Response {
  const err = toApiError(e);
  if (err.status >= 500 && err.status !== 503) console.error(e);
  const h: Record<string, string> = { "content-type": "application/json", ...headers };
  if (err.status === 503 || err.status === 429) h["retry-after"] = "1";
  return new Response(JSON.stringify(err), { status: err.status, headers: h });
}
