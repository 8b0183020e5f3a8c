import { SingleBar } from "cli-progress";

/** A progress bar of long work (folding the store, reading the stream, rebuilding); a no-op when not shown. */
export interface Progress {
  increment(by?: number): void;
  update(value: number): void;
  setTotal(total: number): void;
  stop(): void;
}

const silent: Progress = { increment() {}, update() {}, setTotal() {}, stop() {} };

/**
 * Bars go to stderr, and only when a person watches: never with `--json`, never when stdout or stderr is not a TTY
 * (a pipe, a file, a test), so machine output stays clean.
 */
export function progressFactory(show: boolean): (label: string, total: number) => Progress {
  if (!show) return () => silent;
  return (label, total) => {
    const bar = new SingleBar({
      format: `${label.padEnd(28)} [{bar}] {percentage}% | {value}/{total} | {eta_formatted}`,
      stream: process.stderr,
      hideCursor: true,
      clearOnComplete: false,
      etaBuffer: 50,
      fps: 5,
    });
    bar.start(total, 0);
    return {
      increment: (by = 1) => bar.increment(by),
      update: (value) => bar.update(value),
      setTotal: (value) => bar.setTotal(value),
      stop: () => bar.stop(),
    };
  };
}
