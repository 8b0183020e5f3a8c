import { userInfo } from "node:os";
import { type NatsLinkOptions, type RedisLinkOptions, readNatsLink, readRedisLink } from "./links.js";

/** Where the shared servers are and how this stack is named; the same for every process. */
export interface StackConfig {
  readonly databaseUrl: string;
  /** NATS_URL as given: one server, or several of a cluster comma-separated (the NATS convention). */
  readonly natsUrl: string;
  /** NATS_URL's servers, one per entry: what a client connects to (it tries each, and learns the rest). */
  readonly natsServers: string[];
  /**
   * REDIS_URL as given: one server, or several seed nodes of a Redis Cluster comma-separated (like NATS_URL); a
   * cluster client is used for a list, or for one seed with REDIS_CLUSTER=1 (`redis.cluster`).
   */
  readonly redisUrl: string;
  /**
   * Spread into every NATS connect(): NATS_URL's servers without the credentials in them, user/password or token from
   * the URLs, NATS_CREDS_FILE, NATS_TLS_CA/CERT/KEY (links.ts).
   */
  readonly nats: NatsLinkOptions;
  /**
   * How to reach REDIS_URL: TLS material (REDIS_TLS_CA/CERT/KEY for rediss://) and whether it is a Redis Cluster.
   * Every client is made by `createRedisClient(redisUrl, redis, …)` (redis-client.ts).
   */
  readonly redis: RedisLinkOptions;
  /** JetStream names and Redis key prefixes start with it. */
  readonly namespace: string;
  readonly commandPort: number;
  readonly queryPort: number;
  /** ORDERLY_STREAM_REPLICAS: the orders stream's replica count (1; 3 on a NATS cluster), applied at start-up. */
  readonly streamReplicas: number;
}

export const stackDefaults = {
  DATABASE_URL: "postgres://127.0.0.1:5432/orderly",
  NATS_URL: "nats://127.0.0.1:4222",
  REDIS_URL: "redis://127.0.0.1:6379",
  ORDERLY_NAMESPACE: "orderly",
  COMMAND_PORT: "50051",
  QUERY_PORT: "50052",
  ORDERLY_STREAM_REPLICAS: "1",
} as const;

/** A configuration problem found at start-up; the message names every bad variable and its value. */
export class ConfigError extends Error {
  constructor(readonly problems: readonly string[]) {
    super(`invalid configuration:\n  - ${problems.join("\n  - ")}`);
    this.name = "ConfigError";
  }
}

type Env = Record<string, string | undefined>;

/**
 * For a service's config reader: `collect(read, fallback)` runs `read` and, when it throws a ConfigError, adds its
 * problems to `problems` and returns `fallback`, so that one ConfigError at the end names every bad variable at once.
 */
export function problemCollector(problems: string[]): <T>(read: () => T, fallback: T) => T {
  return (read, fallback) => {
    try {
      return read();
    } catch (error) {
      if (!(error instanceof ConfigError)) throw error;
      problems.push(...error.problems);
      return fallback;
    }
  };
}

/** Reads and validates the stack configuration; throws one ConfigError listing every problem. */
export function readStackConfig(env: Env): StackConfig {
  const problems: string[] = [];
  const databaseUrl = withDefaultUser(readUrl(env, "DATABASE_URL", ["postgres:", "postgresql:"], problems, true), env);
  const natsUrl = readUrlList(env, "NATS_URL", ["nats:", "tls:"], problems);
  const redisUrl = readUrlList(env, "REDIS_URL", ["redis:", "rediss:"], problems);
  const config: StackConfig = {
    databaseUrl,
    natsUrl,
    natsServers: natsServers(natsUrl),
    redisUrl,
    nats: readNatsLink(natsServers(natsUrl), env, problems),
    redis: readRedisLink(redisUrl, env, problems),
    namespace: readNamespace(env, problems),
    commandPort: readPortInto(env, "COMMAND_PORT", Number(stackDefaults.COMMAND_PORT), problems),
    queryPort: readPortInto(env, "QUERY_PORT", Number(stackDefaults.QUERY_PORT), problems),
    streamReplicas: readReplicas(env, problems),
  };
  if (problems.length > 0) throw new ConfigError(problems);
  return config;
}

/** A TCP port from `env[name]` (0 = pick a free one), or `fallback`; throws a ConfigError naming the variable. */
export function readPort(env: Env, name: string, fallback: number): number {
  const problems: string[] = [];
  const port = readPortInto(env, name, fallback, problems);
  if (problems.length > 0) throw new ConfigError(problems);
  return port;
}

/**
 * A whole number from \`env[name]\` within \`min\`–\`max\`, or \`fallback\` when it is unset or blank. A wrong value is
 * added to \`problems\` (naming the variable, the range and the default) so a service reports every mistake at once.
 */
export function readInteger(
  env: Env,
  name: string,
  fallback: number,
  min: number,
  max: number,
  problems: string[],
): number {
  const raw = value(env, name);
  if (raw === undefined) return fallback;
  const parsed = Number(raw);
  if (!/^\d+$/.test(raw) || parsed < min || parsed > max) {
    problems.push(`${name}=${JSON.stringify(raw)} is not an integer in ${min}-${max} (default ${fallback})`);
    return fallback;
  }
  return parsed;
}

function value(env: Env, name: string): string | undefined {
  const raw = env[name];
  return raw === undefined || raw.trim() === "" ? undefined : raw.trim();
}

function readPortInto(env: Env, name: string, fallback: number, problems: string[]): number {
  const raw = value(env, name);
  if (raw === undefined) return fallback;
  const port = Number(raw);
  if (!/^\d+$/.test(raw) || !Number.isInteger(port) || port < 0 || port > 65535) {
    problems.push(
      `${name}=${JSON.stringify(raw)} is not a TCP port (expected an integer 0-65535, default ${fallback})`,
    );
    return fallback;
  }
  return port;
}

/**
 * NATS_URL's servers: the NATS convention lists a cluster's servers comma-separated (`nats://a:4222,nats://b:4222`),
 * which the client does not split itself. Each entry is a URL; empty entries are dropped.
 */
export function natsServers(natsUrl: string): string[] {
  return natsUrl
    .split(",")
    .map((s) => s.trim())
    .filter((s) => s !== "");
}

function readUrlList(
  env: Env,
  name: "NATS_URL" | "REDIS_URL",
  protocols: readonly string[],
  problems: string[],
): string {
  const raw = value(env, name) ?? stackDefaults[name];
  const servers = natsServers(raw);
  if (servers.length === 0)
    problems.push(`${name}=${JSON.stringify(raw)} lists no server (expected e.g. ${stackDefaults[name]})`);
  for (const server of servers)
    readUrl({ [name]: server }, name, protocols, problems, false, servers.length > 1 ? raw : undefined);
  return servers.join(",");
}

function readReplicas(env: Env, problems: string[]): number {
  const raw = value(env, "ORDERLY_STREAM_REPLICAS") ?? stackDefaults.ORDERLY_STREAM_REPLICAS;
  const replicas = Number(raw);
  // JetStream allows 1 to 5 replicas of a stream (and no more than the cluster has servers).
  if (!/^\d+$/.test(raw) || replicas < 1 || replicas > 5) {
    problems.push(
      `ORDERLY_STREAM_REPLICAS=${JSON.stringify(raw)} is not a replica count (expected 1-5: 1 on one NATS server, 3 on a cluster)`,
    );
    return 1;
  }
  return replicas;
}

function readUrl(
  env: Env,
  name: keyof typeof stackDefaults,
  protocols: readonly string[],
  problems: string[],
  needsDatabase: boolean,
  /** The whole variable, when `env[name]` is one entry of a list. */
  whole?: string,
): string {
  const raw = value(env, name) ?? stackDefaults[name];
  const shown = whole === undefined ? JSON.stringify(raw) : `${JSON.stringify(whole)}: ${JSON.stringify(raw)}`;
  const example = stackDefaults[name];
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    problems.push(`${name}=${shown} is not a URL (expected e.g. ${example})`);
    return raw;
  }
  if (!protocols.includes(url.protocol)) {
    problems.push(
      `${name}=${shown} has scheme ${JSON.stringify(url.protocol.replace(/:$/, ""))}, expected ${protocols
        .map((p) => p.replace(/:$/, ""))
        .join(" or ")} (e.g. ${example})`,
    );
  } else if (url.hostname === "") {
    problems.push(`${name}=${shown} has no host (expected e.g. ${example})`);
  } else if (needsDatabase && url.pathname.replace(/^\//, "") === "") {
    problems.push(`${name}=${shown} names no database (expected e.g. ${example})`);
  }
  return raw;
}

/**
 * A Postgres URL without a user name gets the operating-system user's name, as psql and libpq do. The `pg` driver
 * takes it from `$USER` instead, which many containers leave unset ("no PostgreSQL user name specified").
 */
export function withDefaultUser(url: string, env: Env): string {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    return url;
  }
  if (parsed.username !== "" || !/^postgres(ql)?:$/.test(parsed.protocol)) return url;
  if (parsed.searchParams.has("user")) return url;
  parsed.username = encodeURIComponent(osUser(env));
  return parsed.toString();
}

function osUser(env: Env): string {
  const fromEnv = value(env, "PGUSER") ?? value(env, "USER");
  if (fromEnv !== undefined) return fromEnv;
  try {
    return userInfo().username;
  } catch {
    return "postgres"; // a uid without a passwd entry
  }
}

function readNamespace(env: Env, problems: string[]): string {
  const raw = value(env, "ORDERLY_NAMESPACE") ?? stackDefaults.ORDERLY_NAMESPACE;
  // It becomes a NATS subject token, part of a JetStream stream name and a Redis key prefix.
  if (!/^[A-Za-z0-9_-]{1,48}$/.test(raw)) {
    problems.push(
      `ORDERLY_NAMESPACE=${JSON.stringify(raw)} is not a valid namespace (1-48 letters, digits, '_' or '-'; e.g. orderly)`,
    );
  }
  return raw;
}
