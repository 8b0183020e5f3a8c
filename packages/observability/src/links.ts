import { readFileSync } from "node:fs";
import { credsAuthenticator, type NodeConnectionOptions } from "@nats-io/transport-node";

/**
 * How Orderly's processes reach NATS and Redis securely (issue 15, docs/security.md "Infrastructure links"). Postgres
 * needs nothing here: `pg` reads `sslmode` (verify-full included), `sslrootcert`, `sslcert` and `sslkey` from
 * DATABASE_URL itself.
 */

/** What every NATS `connect()` of a process spreads into its options: the servers and how to authenticate. */
export type NatsLinkOptions = Pick<
  NodeConnectionOptions,
  "servers" | "user" | "pass" | "token" | "authenticator" | "tls"
>;

/**
 * How to reach REDIS_URL, besides the URL itself (user and password come in it): TLS material, and whether REDIS_URL
 * names a Redis Cluster. `createRedisClient` (redis-client.ts) turns both into a client.
 */
export interface RedisLinkOptions {
  readonly tls?: { ca?: string; cert?: string; key?: string };
  /** REDIS_URL lists several seed nodes (comma-separated), or REDIS_CLUSTER=1: a Redis Cluster client. */
  readonly cluster?: true;
}

type Env = Record<string, string | undefined>;

function value(env: Env, name: string): string | undefined {
  const raw = env[name];
  return raw === undefined || raw.trim() === "" ? undefined : raw.trim();
}

function readable(file: string, name: string, problems: string[]): string | undefined {
  try {
    return readFileSync(file, "utf8");
  } catch (error) {
    problems.push(`${name}=${JSON.stringify(file)} cannot be read: ${(error as NodeJS.ErrnoException).code ?? error}`);
    return undefined;
  }
}

/**
 * NATS_URL's servers with their credentials taken out of the URLs (nats.js does not read them there): `user:password@`
 * becomes user/pass, a user name alone a token (the `nats` CLI's convention). NATS_CREDS_FILE (a `.creds` file: JWT
 * and NKey seed) authenticates instead; NATS_TLS_CA (and NATS_TLS_CERT + NATS_TLS_KEY for a client certificate)
 * configure TLS, which a `tls://` server URL requires.
 */
export function readNatsLink(servers: readonly string[], env: Env, problems: string[]): NatsLinkOptions {
  const plain: string[] = [];
  let user: string | undefined;
  let pass: string | undefined;
  let token: string | undefined;
  for (const server of servers) {
    let url: URL;
    try {
      url = new URL(server);
    } catch {
      plain.push(server); // reported by readStackConfig
      continue;
    }
    if (url.username !== "") {
      const name = decodeURIComponent(url.username);
      if (url.password !== "") {
        user = name;
        pass = decodeURIComponent(url.password);
      } else {
        token = name;
      }
      url.username = "";
      url.password = "";
    }
    plain.push(url.toString().replace(/\/$/, ""));
  }
  const options: { -readonly [K in keyof NatsLinkOptions]: NatsLinkOptions[K] } = { servers: plain };
  if (user !== undefined) {
    options.user = user;
    options.pass = pass;
  }
  if (token !== undefined) options.token = token;
  const credsFile = value(env, "NATS_CREDS_FILE");
  if (credsFile !== undefined) {
    const creds = readable(credsFile, "NATS_CREDS_FILE", problems);
    if (creds !== undefined) options.authenticator = credsAuthenticator(new TextEncoder().encode(creds));
  }
  const caFile = value(env, "NATS_TLS_CA");
  const certFile = value(env, "NATS_TLS_CERT");
  const keyFile = value(env, "NATS_TLS_KEY");
  if ((certFile === undefined) !== (keyFile === undefined)) {
    problems.push("NATS_TLS_CERT and NATS_TLS_KEY go together: set both (PEM files) or neither");
  }
  for (const [name, file] of [
    ["NATS_TLS_CA", caFile],
    ["NATS_TLS_CERT", certFile],
    ["NATS_TLS_KEY", keyFile],
  ] as const) {
    if (file !== undefined) readable(file, name, problems);
  }
  if (caFile !== undefined || certFile !== undefined) {
    options.tls = {
      ...(caFile === undefined ? {} : { caFile }),
      ...(certFile === undefined ? {} : { certFile }),
      ...(keyFile === undefined ? {} : { keyFile }),
    };
  } else if (plain.some((s) => s.startsWith("tls:"))) {
    options.tls = {}; // the system's CAs
  }
  return options;
}

/**
 * REDIS_URL's entries (one server, or a Redis Cluster's seed nodes comma-separated), whether it is a cluster (a list,
 * or REDIS_CLUSTER=1 for one seed), and REDIS_TLS_CA (and REDIS_TLS_CERT + REDIS_TLS_KEY): TLS material for a
 * `rediss://` REDIS_URL. A cluster's seeds share one scheme and one user/password (every node is reached the same
 * way: the client learns the other nodes from the seeds, with the seeds' credentials and TLS), and name no database
 * (a Redis Cluster has only database 0).
 */
export function readRedisLink(redisUrl: string, env: Env, problems: string[]): RedisLinkOptions {
  const seeds = redisUrl
    .split(",")
    .map((s) => s.trim())
    .filter((s) => s !== "");
  const flag = value(env, "REDIS_CLUSTER");
  if (flag !== undefined && !/^(0|1|true|false|yes|no)$/i.test(flag)) {
    problems.push(`REDIS_CLUSTER=${JSON.stringify(flag)} is not a switch (expected 1 or 0)`);
  }
  const cluster = seeds.length > 1 || (flag !== undefined && /^(1|true|yes)$/i.test(flag));
  if (cluster) checkClusterSeeds(seeds, problems);
  const tlsUrl = seeds.length > 0 && seeds.every((s) => s.startsWith("rediss:"));
  const caFile = value(env, "REDIS_TLS_CA");
  const certFile = value(env, "REDIS_TLS_CERT");
  const keyFile = value(env, "REDIS_TLS_KEY");
  if (caFile === undefined && certFile === undefined && keyFile === undefined) return cluster ? { cluster } : {};
  if (!tlsUrl) {
    problems.push("REDIS_TLS_CA/CERT/KEY need a rediss:// REDIS_URL (TLS)");
  }
  if ((certFile === undefined) !== (keyFile === undefined)) {
    problems.push("REDIS_TLS_CERT and REDIS_TLS_KEY go together: set both (PEM files) or neither");
  }
  const ca = caFile === undefined ? undefined : readable(caFile, "REDIS_TLS_CA", problems);
  const cert = certFile === undefined ? undefined : readable(certFile, "REDIS_TLS_CERT", problems);
  const key = keyFile === undefined ? undefined : readable(keyFile, "REDIS_TLS_KEY", problems);
  return {
    tls: {
      ...(ca === undefined ? {} : { ca }),
      ...(cert === undefined ? {} : { cert }),
      ...(key === undefined ? {} : { key }),
    },
    ...(cluster ? { cluster } : {}),
  };
}

function checkClusterSeeds(seeds: readonly string[], problems: string[]): void {
  const parsed: URL[] = [];
  for (const seed of seeds) {
    try {
      parsed.push(new URL(seed));
    } catch {
      return; // reported by readStackConfig
    }
  }
  const shown = (u: URL) =>
    u.password === "" ? u.toString() : `${u.protocol}//${u.username}:***@${u.host}${u.pathname}`;
  if (new Set(parsed.map((u) => u.protocol)).size > 1) {
    problems.push(
      `REDIS_URL mixes redis:// and rediss:// seeds (${parsed.map(shown).join(",")}): a cluster's nodes are all TLS or none`,
    );
  }
  if (new Set(parsed.map((u) => `${u.username}\n${u.password}`)).size > 1) {
    problems.push(
      "REDIS_URL's seeds carry different users or passwords: a Redis Cluster client reaches every node with the same " +
        "credentials: give every seed the same user and password",
    );
  }
  for (const u of parsed) {
    if (u.pathname !== "" && u.pathname !== "/" && u.pathname !== "/0") {
      problems.push(
        `REDIS_URL seed ${shown(u)} names database ${JSON.stringify(u.pathname.slice(1))}: a Redis Cluster has only database 0`,
      );
    }
  }
}
