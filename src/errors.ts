// Errors caused by the user's input (a damaged file, a bad flag, a prompt that does not fit).
// The CLI and the server print their message alone — no stack trace — and every layer may
// throw them. Anything else reaching the top is a bug and is shown in full.

export class UserError extends Error {
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "UserError";
  }
}

export function isUserError(e: unknown): e is UserError {
  return e instanceof UserError;
}
