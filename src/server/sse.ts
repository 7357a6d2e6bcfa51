// Server-sent events as OpenAI streams them: `data: {json}\n\n` per chunk, then `data: [DONE]`.
// The producer runs while the client reads; a client that goes away cancels the stream, which
// calls `onCancel` so the generation behind it stops at once.

import { toApiError } from "./errors.ts";

const enc = new TextEncoder();

export function sseResponse(produce: (send: (data: unknown) => void) => Promise<void>, onCancel: () => void): Response {
  let closed = false;
  const body = new ReadableStream<Uint8Array>({
    start(controller) {
      const write = (s: string) => {
        if (!closed) controller.enqueue(enc.encode(s));
      };
      const send = (data: unknown) => write(`data: ${JSON.stringify(data)}\n\n`);
      produce(send)
        .catch((e: unknown) => {
          // Headers are gone already: the error travels as an event, as OpenAI's own stream does.
          const err = toApiError(e);
          if (err.status >= 500) console.error(e);
          send(err.toJSON());
        })
        .finally(() => {
          write("data: [DONE]\n\n");
          if (!closed) {
            closed = true;
            controller.close();
          }
        });
    },
    cancel() {
      closed = true;
      onCancel();
    },
  });
  return new Response(body, {
    status: 200,
    headers: {
      "content-type": "text/event-stream; charset=utf-8",
      "cache-control": "no-cache",
      "x-accel-buffering": "no",
    },
  });
}
