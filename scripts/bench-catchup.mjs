// The catch-up phase of `pnpm bench` (issue 5): "a 60-second backlog built at the maximum command rate drains within
// 60 s while live load continues". scripts/bench.mjs owns the processes; this file owns the procedure and the figures.
//
// The projector processes are stopped cleanly (SIGTERM: the batch in flight commits, the NATS connection closes), not
// SIGSTOPped: a stopped process that keeps its connection and its unacked deliveries is not "a projector was down".
// The relay keeps publishing meanwhile, so the backlog waits both in the durable JetStream consumer and in the event
// store, as it would in production.

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
const round = (x, digits = 2) => (x === null || x === undefined || Number.isNaN(x) ? null : Number(x.toFixed(digits)));

const SERIES = {
  projection_checkpoint_position: "checkpoint",
  projection_lag_events: "lag_events",
  projection_lag_seconds: "lag_seconds",
};

/** Checkpoint, lag in events and lag in seconds of every projection a projector process reports on /metrics. */
export async function scrapeProjections(url) {
  const response = await fetch(url, { signal: AbortSignal.timeout(1000) });
  const text = await response.text();
  const found = {};
  for (const m of text.matchAll(
    /^(projection_checkpoint_position|projection_lag_events|projection_lag_seconds)\{[^}]*projection="([^"]+)"[^}]*\} (\S+)$/gm,
  )) {
    found[m[2]] ??= {};
    found[m[2]][SERIES[m[1]]] = Number(m[3]);
  }
  // A projection counts once its checkpoint is known (the gauge appears when the projector has loaded it).
  return Object.fromEntries(Object.entries(found).filter(([, s]) => s.checkpoint !== undefined));
}

/**
 * Runs the phase against services that are up and idle.
 *
 * @param {object} o
 * @param {string[]} o.projectors process names (`projector-postgres`, `projector-redis`)
 * @param {(name: string) => string} o.metricsUrl
 * @param {(name: string) => Promise<unknown>} o.stopProjector SIGTERM and wait for the exit
 * @param {(name: string) => Promise<unknown>} o.startProjector a new process; resolves once /readyz answers 200
 * @param {() => Promise<number>} o.headPosition the event store's head position
 * @param {(label: string, argv: string[]) => Promise<object>} o.runLoad a load-test run to its end (its report)
 * @param {(label: string, argv: string[]) => {stop(): void, report: Promise<object>}} o.startLoad one in the background
 * @param {(report: object) => object} o.summarize
 * @param {() => void} o.checkAlive throws when a service died
 * @param {(line: string) => void} o.log
 */
export async function catchUp(o) {
  const started = performance.now();
  const mixArgs = o.mixArgs ?? [];

  // 1. Everything applied and nothing being written: the checkpoint at the stop is the head.
  const headAtStop = await o.headPosition();
  const atStop = await waitCaughtUp(o, headAtStop, 120_000);
  o.log(`projectors caught up at position ${headAtStop}; stopping ${o.projectors.join(", ")}`);
  await Promise.all(o.projectors.map((name) => o.stopProjector(name)));
  const downAt = performance.now();

  // 2. The backlog: open loop at the maximum rate, commands only (a read-your-writes check would wait for a projector).
  const backlogArgs = ["--rate", String(o.maxRate), "--duration", `${o.backlogSeconds}s`, ...mixArgs];
  o.log(`backlog: ${o.maxRate} commands/s for ${o.backlogSeconds} s with the projectors down`);
  const backlog = await o.runLoad("backlog", backlogArgs);
  o.checkAlive();
  const headAfterBacklog = await o.headPosition();

  // 3. Live load at half rate, then the projectors come back while it runs.
  const liveArgs = ["--rate", String(o.liveRate), "--duration", `${o.windowSeconds + 10}s`, ...mixArgs];
  const live = o.startLoad("live during drain", liveArgs);
  let liveReport;
  const projections = {};
  let restartedAt = 0;
  let headAtRestart = 0;
  const ready = {};
  let startError;
  let starting = Promise.resolve();
  try {
    await sleep(1_000); // the live load is flowing before the restart
    headAtRestart = await o.headPosition();
    restartedAt = performance.now();
    const since = () => (performance.now() - restartedAt) / 1000;
    o.log(`restarting ${o.projectors.join(", ")} at head ${headAtRestart} (${headAtRestart - headAtStop} behind)`);
    starting = Promise.all(
      o.projectors.map((name) =>
        o.startProjector(name).then(() => {
          ready[name] = since();
        }),
      ),
    ).catch((error) => {
      startError = error;
    });

    // 4. Sample every projection until each is drained and has stayed so for `staySeconds`, or the window is over.
    while (since() < o.windowSeconds) {
      if (startError) throw startError;
      o.checkAlive();
      for (const name of o.projectors) {
        if (ready[name] === undefined) continue;
        let scraped;
        try {
          scraped = await scrapeProjections(o.metricsUrl(name));
        } catch {
          continue;
        }
        const t = since();
        for (const [projection, s] of Object.entries(scraped)) {
          let p = projections[projection];
          if (!p) {
            p = { projector: name, first: { t, ...s }, reached: null, settledSince: null, peak: 0, samples: 0 };
            projections[projection] = p;
          }
          p.samples += 1;
          p.last = { t, ...s };
          p.peak = Math.max(p.peak, s.lag_seconds ?? 0);
          if (p.reached === null && s.checkpoint >= headAtRestart) p.reached = { t, checkpoint: s.checkpoint };
          if ((s.lag_seconds ?? Number.POSITIVE_INFINITY) <= o.lagThresholdSeconds) p.settledSince ??= t;
          else p.settledSince = null;
        }
      }
      const everyProjectorSeen = o.projectors.every((name) =>
        Object.values(projections).some((p) => p.projector === name),
      );
      if (everyProjectorSeen && Object.values(projections).every((p) => settledFor(p, o.staySeconds))) break;
      await sleep(250);
    }
  } finally {
    live.stop();
    liveReport = await live.report.catch((error) => {
      o.log(`live load: ${error.message}`);
      return undefined;
    });
    await starting;
  }
  if (startError) throw startError;
  for (const name of o.projectors) {
    if (ready[name] === undefined) throw new Error(`${name} was not ready within the ${o.windowSeconds} s window`);
  }

  const goal = o.backlogSeconds;
  const figures = {};
  const goals = {};
  for (const [projection, p] of Object.entries(projections).sort(([a], [b]) => a.localeCompare(b))) {
    const checkpointAtStop = atStop[projection] ?? headAtStop;
    const backlogEvents = headAtRestart - checkpointAtStop;
    const drain = settledFor(p, o.staySeconds) ? Math.max(p.reached.t, p.settledSince) : null;
    figures[projection] = {
      projector: p.projector,
      backlog_events: backlogEvents,
      checkpoint_at_stop: checkpointAtStop,
      ready_s: round(ready[p.projector], 2),
      reached_head_s: round(p.reached?.t, 2),
      drain_s: round(drain, 2),
      drain_events_per_s: p.reached ? Math.round(backlogEvents / p.reached.t) : null,
      lag_at_ready_s: round(p.first.lag_seconds, 2),
      peak_lag_s: round(p.peak, 2),
      lag_at_end_s: round(p.last.lag_seconds, 3),
      lag_events_at_end: p.last.lag_events ?? null,
      samples: p.samples,
    };
    goals[`${projection}_drain_s`] = { value: round(drain, 2), goal, met: drain !== null && drain <= goal };
  }
  const backlogEvents = headAfterBacklog - headAtStop;
  return {
    status: "ok",
    seconds: round((performance.now() - started) / 1000, 1),
    options: {
      backlog_s: o.backlogSeconds,
      window_s: o.windowSeconds,
      lag_threshold_s: o.lagThresholdSeconds,
      stay_s: o.staySeconds,
      max_rate: o.maxRate,
      live_rate: o.liveRate,
    },
    commands: {
      backlog: `pnpm loadtest --address <command> ${backlogArgs.join(" ")}`,
      live: `pnpm loadtest --address <command> ${liveArgs.join(" ")}`,
    },
    head: { at_stop: headAtStop, after_backlog: headAfterBacklog, at_restart: headAtRestart },
    projectors_down_s: round((restartedAt - downAt) / 1000, 1),
    backlog: {
      events: backlogEvents,
      events_per_s: Math.round(backlogEvents / backlog.elapsed_s),
      load: o.summarize(backlog),
    },
    live: liveReport ? o.summarize(liveReport) : null,
    projections: figures,
    goals,
  };
}

/** Drained: the checkpoint passed the head at the restart and the lag has been under the threshold for `stay` s. */
function settledFor(p, stay) {
  return p.reached !== null && p.settledSince !== null && p.last.t - Math.max(p.reached.t, p.settledSince) >= stay;
}

/** Waits until every projection's checkpoint is at `head`; returns the checkpoints. */
async function waitCaughtUp(o, head, timeoutMs) {
  const deadline = Date.now() + timeoutMs;
  let last = {};
  while (Date.now() < deadline) {
    o.checkAlive();
    const all = {};
    let complete = true;
    for (const name of o.projectors) {
      const scraped = await scrapeProjections(o.metricsUrl(name)).catch(() => ({}));
      if (Object.keys(scraped).length === 0) complete = false;
      for (const [projection, s] of Object.entries(scraped)) all[projection] = s.checkpoint;
    }
    last = all;
    if (complete && Object.values(all).every((checkpoint) => checkpoint >= head)) return all;
    await sleep(250);
  }
  throw new Error(`projections not at the head ${head} within ${timeoutMs / 1000} s: ${JSON.stringify(last)}`);
}
