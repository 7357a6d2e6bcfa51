// A progress bar for work of known size (tensors written, chunks scored), drawn on stderr only
// when it is a terminal so that pipes and logs stay clean.

import { Presets, SingleBar } from "cli-progress";

export interface Progress {
  update(value: number, payload?: Record<string, string>): void;
  stop(): void;
}

const none: Progress = { update() {}, stop() {} };

/** `format` is a cli-progress format string; {bar}, {value}, {total} and {percentage} are filled in. */
export function progressBar(total: number, format: string, stream: NodeJS.WriteStream = process.stderr): Progress {
  if (!stream.isTTY || total <= 0) return none;
  const bar = new SingleBar({ format, stream, clearOnComplete: true, hideCursor: true }, Presets.shades_classic);
  bar.start(total, 0);
  let stopped = false;
  return {
    update(value, payload) {
      if (!stopped) bar.update(value, payload);
    },
    stop() {
      if (!stopped) bar.stop();
      stopped = true;
    },
  };
}

export function mib(bytes: number): string {
  return (bytes / 2 ** 20).toFixed(2);
}
