import {
  type DependencyName,
  type DependencyStatus,
  describeDown,
  oldestPostgresMajor,
  urlVariable,
} from "@orderly/observability";
import type { InstalledServers, ServerKind } from "./binaries.js";

export const kindOf: Record<DependencyName, ServerKind> = { Postgres: "postgres", NATS: "nats", Redis: "redis" };

/** What to type on each platform to install a server. */
export const installCommands: Record<ServerKind, { debian: string; macos: string }> = {
  postgres: { debian: "sudo apt-get install postgresql", macos: "brew install postgresql@16" },
  nats: { debian: "sudo apt-get install nats-server", macos: "brew install nats-server" },
  redis: { debian: "sudo apt-get install redis-server", macos: "brew install redis" },
};

/** What to type on each platform to start the machine's own installed server. */
export const startCommands: Record<ServerKind, { debian: string; macos: string }> = {
  postgres: { debian: "sudo systemctl start postgresql", macos: "brew services start postgresql@16" },
  nats: { debian: "nats-server -js -sd ~/.nats &", macos: "brew services start nats-server (with jetstream on)" },
  redis: { debian: "sudo systemctl start redis-server", macos: "brew services start redis" },
};

const programs: Record<ServerKind, string> = {
  postgres: "initdb, pg_ctl and postgres",
  nats: "nats-server",
  redis: "redis-server",
};

export interface AdviceContext {
  readonly installed: InstalledServers;
  /** False with --no-servers. */
  readonly fallback: boolean;
  /** Whether the URL names this machine (own servers are only ever started there). */
  readonly loopback: boolean;
  /** The folder own servers keep their data in, as shown to the user. */
  readonly dataDir: string;
}

/**
 * One paragraph for a dependency that is down: the real cause and its fix. A refused connection on a loopback
 * address distinguishes "not installed" (install commands) from "installed, not running" (start commands, or let
 * `pnpm start` run its own); the other kinds (refused credentials, no JetStream, too old) say what to change.
 */
export function adviceFor(status: DependencyStatus, context: AdviceContext): string {
  if (status.up) return "";
  const kind = kindOf[status.name];
  const variable = urlVariable(status.name);
  if (status.kind !== "not-listening") return describeDown(status);
  if (!context.loopback) {
    return (
      `${status.name} is not running at ${status.url} (${variable}): nothing accepts connections there.\n` +
      `  fix: start ${status.name} on that host, or point ${variable} at a running one. (\`pnpm start\` runs its own ` +
      "servers only for loopback addresses: 127.0.0.1, ::1 or localhost.)"
    );
  }
  const install = installCommands[kind];
  const start = startCommands[kind];
  const installedDir = installedWhere(kind, context.installed);
  if (installedDir === undefined) {
    return (
      `${status.name} is not running at ${status.url} (${variable}), and it is not installed on this machine ` +
      `(no ${programs[kind]} on PATH${kind === "postgres" ? " or in /usr/lib/postgresql/*/bin" : ""}).\n` +
      `  install it: Debian/Ubuntu: ${install.debian} · macOS: ${install.macos}\n` +
      `  then run \`pnpm start\` again: it starts its own ${status.name} with its data in ${context.dataDir}` +
      ` (or point ${variable} at a running ${status.name}).`
    );
  }
  if (kind === "postgres" && context.installed.postgres && context.installed.postgres.major < oldestPostgresMajor) {
    return (
      `${status.name} is not running at ${status.url} (${variable}), and the installed one ` +
      `(${context.installed.postgres.version}, ${installedDir}) is older than Postgres ${oldestPostgresMajor}, the oldest ` +
      "Orderly runs on.\n" +
      `  fix: install a newer one: Debian/Ubuntu: ${install.debian} · macOS: ${install.macos}` +
      ` (or point ${variable} at a running Postgres ${oldestPostgresMajor}+).`
    );
  }
  if (!context.fallback) {
    return (
      `${status.name} is installed (${installedDir}) but not running at ${status.url} (${variable}).\n` +
      `  start it: Debian/Ubuntu: ${start.debian} · macOS: ${start.macos}\n` +
      `  or run \`pnpm start\` without --no-servers: it then starts its own ${status.name} there, with its data in ` +
      `${context.dataDir}.`
    );
  }
  return describeDown(status);
}

function installedWhere(kind: ServerKind, installed: InstalledServers): string | undefined {
  if (kind === "postgres") return installed.postgres?.dir;
  return installed[kind];
}
