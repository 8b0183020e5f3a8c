import type { DependencyName, DependencyReport } from "@orderly/observability";
import { oldestPostgresMajor } from "@orderly/observability";
import { adviceFor, kindOf } from "./advice.js";
import type { InstalledServers } from "./binaries.js";
import { isLoopback, type ServerRecord, serverNames, startServer } from "./servers.js";

export interface ProvideOptions {
  /** The URL of each dependency, unmasked. */
  readonly urls: Record<DependencyName, string>;
  readonly installed: InstalledServers;
  /** The checkout's data folder. */
  readonly dataDir: string;
  /** As shown to people (e.g. ".orderly/"). */
  readonly dataDirLabel: string;
  /** False with --no-servers: only explain. */
  readonly fallback: boolean;
}

export interface ProvideResult {
  /** The servers started now. */
  readonly started: readonly ServerRecord[];
  /** One paragraph per dependency that is still down: its cause and fix. Empty when all are up. */
  readonly problems: readonly string[];
}

/**
 * For every dependency that is down because nothing listens at its loopback address, starts the checkout's own
 * server there when it is installed (and the fallback is on). Starts nothing when any dependency has a problem a
 * server of ours would not fix (refused credentials, no JetStream, not installed, ...): then it only explains.
 */
export async function provideServers(report: DependencyReport, options: ProvideOptions): Promise<ProvideResult> {
  const down = report.results.filter((r) => !r.up);
  const fixable = down.filter((r) => {
    const kind = kindOf[r.name];
    const installed = kind === "postgres" ? options.installed.postgres : options.installed[kind];
    return (
      options.fallback &&
      r.kind === "not-listening" &&
      // One server of our own, never a cluster: a NATS_URL listing several servers is the operator's to run.
      !options.urls[r.name].includes(",") &&
      onLoopback(options.urls[r.name]) &&
      installed !== undefined &&
      (kind !== "postgres" || (options.installed.postgres?.major ?? 0) >= oldestPostgresMajor)
    );
  });
  const problems = down
    .filter((r) => !fixable.includes(r))
    .map((r) =>
      adviceFor(r, {
        installed: options.installed,
        fallback: options.fallback,
        loopback: onLoopback(options.urls[r.name]),
        dataDir: options.dataDirLabel,
      }),
    );
  if (problems.length > 0) return { started: [], problems };
  // Side by side: Postgres' initdb dominates a first start (~2 s), the others are up in a few hundred ms.
  const outcomes = await Promise.allSettled(
    fixable.map((r) => startServer(kindOf[r.name], options.urls[r.name], options)),
  );
  const started: ServerRecord[] = [];
  outcomes.forEach((outcome, i) => {
    const r = fixable[i];
    if (!r) return;
    if (outcome.status === "fulfilled") started.push(outcome.value);
    else {
      problems.push(
        `${r.name} is installed but not running at ${r.url}, and starting Orderly's own ${serverNames[kindOf[r.name]]} ` +
          `there failed: ${(outcome.reason as Error).message}`,
      );
    }
  });
  return { started, problems };
}

/** True when every server the URL names is on this machine (NATS_URL may list a cluster's, comma-separated). */
function onLoopback(url: string): boolean {
  return url.split(",").every((entry) => isLoopback(new URL(entry.trim()).hostname));
}
