/**
 * Samples the read-model lag the services publish (`projection_lag_seconds{projection=…}` from the projectors,
 * `outbox_lag_seconds` from the relay) from their Prometheus /metrics pages once a second during a run, so the
 * report can draw the dashboard's "Lag per read model" panel without Prometheus. Keeps the largest value seen per
 * series and second; a page that does not answer within the second is skipped.
 */
export class ServerLagSampler {
  private readonly peaks = new Map<string, (number | null)[]>();
  private timer: NodeJS.Timeout | undefined;
  private inFlight = 0;
  samples = 0;

  constructor(
    private readonly urls: readonly string[],
    private readonly startMs: number,
    private readonly now: () => number,
  ) {}

  start(intervalMs = 1000): void {
    this.sample();
    this.timer = setInterval(() => this.sample(), intervalMs);
    this.timer.unref();
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
  }

  /** The largest lag per series and interval, padded to `intervals` entries. */
  series(intervals: number): Record<string, (number | null)[]> {
    const out: Record<string, (number | null)[]> = {};
    for (const [name, values] of [...this.peaks.entries()].sort((a, b) => a[0].localeCompare(b[0]))) {
      out[name] = Array.from({ length: intervals }, (_, i) => values[i] ?? null);
    }
    return out;
  }

  private sample(): void {
    if (this.inFlight > 0) return; // the previous round is still waiting for a slow page
    for (const url of this.urls) {
      this.inFlight += 1;
      fetch(url, { signal: AbortSignal.timeout(900) })
        .then((r) => r.text())
        .then((text) => this.observe(text, this.now()))
        .catch(() => {})
        .finally(() => {
          this.inFlight -= 1;
        });
    }
  }

  /** Records every lag gauge of one /metrics page at time `at`. */
  observe(text: string, at: number): void {
    const second = Math.max(0, Math.floor((at - this.startMs) / 1000));
    this.samples += 1;
    for (const [name, value] of parseLagGauges(text)) {
      let values = this.peaks.get(name);
      if (!values) {
        values = [];
        this.peaks.set(name, values);
      }
      const old = values[second];
      if (old === undefined || old === null || value > old) values[second] = value;
    }
  }
}

/** `[series name, seconds]` for each lag gauge on a Prometheus text page: projections by name, and `outbox relay`. */
export function parseLagGauges(text: string): [string, number][] {
  const out: [string, number][] = [];
  for (const m of text.matchAll(/^projection_lag_seconds\{[^}]*projection="([^"]+)"[^}]*\} (\S+)$/gm)) {
    const v = Number(m[2]);
    if (Number.isFinite(v)) out.push([m[1] ?? "", v]);
  }
  for (const m of text.matchAll(/^outbox_lag_seconds(?:\{[^}]*\})? (\S+)$/gm)) {
    const v = Number(m[1]);
    if (Number.isFinite(v)) out.push(["outbox relay", v]);
  }
  return out;
}
