// Lets sockets, timers and signal handlers (Ctrl-C) run between forward passes. A forward pass on
// a synchronous backend resolves in microtasks only, which would starve them. setImmediate where
// there is one (Node), since setTimeout(0) is clamped to a millisecond or more; in a browser a
// MessageChannel round trip is the unclamped equivalent.

export const yieldToEventLoop: () => Promise<void> = (() => {
  const si = (globalThis as { setImmediate?: (cb: () => void) => unknown }).setImmediate;
  if (si) return () => new Promise<void>((r) => si(r));
  if (typeof MessageChannel !== "undefined") {
    const ch = new MessageChannel();
    const waiting: Array<() => void> = [];
    ch.port1.onmessage = () => waiting.shift()?.();
    return () =>
      new Promise<void>((r) => {
        waiting.push(r);
        ch.port2.postMessage(0);
      });
  }
  return () => new Promise<void>((r) => setTimeout(r, 0));
})();
