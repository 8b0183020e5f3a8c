import { execFileSync } from "node:child_process";
import { chmodSync, chownSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { jetstreamManager } from "@nats-io/jetstream";
import { connect } from "@nats-io/transport-node";
import { NatsStreamTail } from "@orderly/event-bus";
import { createPool } from "@orderly/event-store-postgres";
import { type CertificateFiles, createCertificateAuthority, issueCertificate } from "@orderly/grpc-server";
import {
  createRedisClient,
  maskPassword,
  natsServer,
  postgresServer,
  readStackConfig,
  redisMasters,
  redisServer,
  type StackConfig,
} from "@orderly/observability";
import {
  type NatsServer,
  type PostgresServer,
  type RedisCluster,
  type RedisServer,
  startNatsServer,
  startPostgresServer,
  startRedisCluster,
  startRedisServer,
} from "@orderly/testing";
import { Redis } from "ioredis";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

// Issue 15, "Infrastructure links": Orderly's own connections to Postgres, NATS and Redis with TLS and credentials,
// each against a server this file starts on loopback with auth on (and stops). What is tested is the stack config
// (readStackConfig: DATABASE_URL, NATS_URL + NATS_TLS_CA, REDIS_URL + REDIS_TLS_CA) and the connection paths the
// services use with it: the start-up probes (natsServer/redisServer/postgresServer) and a real connection of each kind.

const dir = mkdtempSync(join(tmpdir(), "orderly-secure-links-"));
const ca = createCertificateAuthority(dir, "ca");
const otherCa = createCertificateAuthority(join(dir, "other"), "other-ca");
// The servers' certificate names localhost only: 127.0.0.1 is a hostname mismatch for verify-full.
const serverCert = issueCertificate(ca, dir, "server", {
  commonName: "localhost",
  hosts: ["localhost"],
  usage: "server",
});
const natsPassword = "n4ts-s3cret-pw";
const redisPassword = "r3dis-s3cret-pw";
const pgPassword = "pg-s3cret-pw";

let nats: NatsServer;
let redis: RedisServer;
let redisCluster: RedisCluster | undefined;
let postgres: PostgresServer;

function stack(env: Record<string, string>): StackConfig {
  return readStackConfig({ ORDERLY_NAMESPACE: "secure_links", ...env });
}

/** The start-up probe's outcome: undefined when it connected, else the error message. */
/** A redis-server's TLS listener on `port` (the plain one off) with `cert`. */
function redisTlsArgs(port: number, cert: CertificateFiles): string[] {
  return ["--port", "0", "--tls-port", String(port), "--tls-cert-file", cert.cert, "--tls-key-file", cert.key];
}

async function probe(dependency: { check(signal?: AbortSignal): Promise<void> }): Promise<string | undefined> {
  try {
    await dependency.check();
    return undefined;
  } catch (error) {
    return (error as Error).message;
  }
}

beforeAll(async () => {
  const natsConfig = join(dir, "nats.conf");
  writeFileSync(
    natsConfig,
    [
      "tls {",
      `  cert_file: "${serverCert.cert}"`,
      `  key_file: "${serverCert.key}"`,
      "  timeout: 2",
      "}",
      "authorization {",
      `  users: [ { user: "orderly", password: "${natsPassword}" } ]`,
      "}",
      "",
    ].join("\n"),
  );
  const redisUsers = join(dir, "users.acl");
  writeFileSync(redisUsers, `user default off\nuser orderly on >${redisPassword} ~* &* +@all\n`);
  // Postgres runs as the `postgres` user when we are root: its key must be that user's, mode 0600.
  const pgDir = join(dir, "pg");
  execFileSync("mkdir", ["-p", pgDir]);
  const pgKey = join(pgDir, "server.key");
  const pgCert = join(pgDir, "server.crt");
  execFileSync("cp", [serverCert.key, pgKey]);
  execFileSync("cp", [serverCert.cert, pgCert]);
  chmodSync(pgKey, 0o600);
  if (process.getuid?.() === 0) {
    chmodSync(dir, 0o755); // mkdtemp's 0700 would keep the postgres user out of pg/
    const uid = Number(execFileSync("id", ["-u", "postgres"]).toString().trim());
    const gid = Number(execFileSync("id", ["-g", "postgres"]).toString().trim());
    chownSync(pgDir, uid, gid);
    chownSync(pgKey, uid, gid);
    chownSync(pgCert, uid, gid);
  }
  // One after another, each assigned at once: afterAll stops whichever started.
  nats = await startNatsServer({ args: ["-c", natsConfig] });
  redis = await startRedisServer({
    args: (port) => [...redisTlsArgs(port, serverCert), "--tls-auth-clients", "no", "--aclfile", redisUsers],
  });
  postgres = await startPostgresServer({
    settings: { ssl: "on", ssl_cert_file: pgCert, ssl_key_file: pgKey, password_encryption: "scram-sha-256" },
    // Only TLS connections over TCP; the superuser (trust) for the set-up, the application's user with a password.
    hba: [
      "local all all trust",
      "hostssl all postgres 127.0.0.1/32 trust",
      "hostssl all orderly 127.0.0.1/32 scram-sha-256",
      "",
    ].join("\n"),
  });
  const admin = createPool(`postgres://postgres@127.0.0.1:${postgres.port}/postgres?sslmode=no-verify`, { max: 1 });
  try {
    await admin.query(`create role orderly login password '${pgPassword}'`);
  } finally {
    await admin.end();
  }
}, 60_000);

afterAll(async () => {
  await Promise.all([nats?.close(), redis?.close(), redisCluster?.close(), postgres?.close()]);
  rmSync(dir, { recursive: true, force: true });
});

describe("NATS over TLS with a user and password", () => {
  const url = (credentials: string, scheme = "tls") => `${scheme}://${credentials}localhost:${nats.port}`;

  it("connects with the credentials in NATS_URL and the CA in NATS_TLS_CA, and JetStream answers", async () => {
    const config = stack({ NATS_URL: url(`orderly:${natsPassword}@`), NATS_TLS_CA: ca.cert });
    expect(config.nats.servers).toEqual([url("")]);
    expect(await probe(natsServer(config.natsUrl, config.nats))).toBeUndefined();
    const nc = await connect({ ...config.nats, name: "secure-links-test" });
    try {
      const jsm = await jetstreamManager(nc);
      expect((await jsm.getAccountInfo()).streams).toBe(0);
    } finally {
      await nc.close();
    }
  });

  it("is refused without the password, with a wrong one, with another CA, and in plaintext", async () => {
    const wrongPassword = stack({ NATS_URL: url("orderly:wrong@"), NATS_TLS_CA: ca.cert });
    expect(await probe(natsServer(wrongPassword.natsUrl, wrongPassword.nats))).toMatch(/authoriz/i);
    const noUser = stack({ NATS_URL: url(""), NATS_TLS_CA: ca.cert });
    expect(await probe(natsServer(noUser.natsUrl, noUser.nats))).toMatch(/authoriz/i);
    const otherAuthority = stack({ NATS_URL: url(`orderly:${natsPassword}@`), NATS_TLS_CA: otherCa.cert });
    expect(await probe(natsServer(otherAuthority.natsUrl, otherAuthority.nats))).toMatch(/certificate|tls|ssl/i);
    const plaintext = stack({ NATS_URL: url(`orderly:${natsPassword}@`, "nats") });
    expect(await probe(natsServer(plaintext.natsUrl, plaintext.nats))).toBeDefined();
  });

  it("serves the services' own NATS clients with the same options: the command service's stream tail", async () => {
    const config = stack({ NATS_URL: url(`orderly:${natsPassword}@`), NATS_TLS_CA: ca.cert });
    const tail = new NatsStreamTail({
      servers: config.natsServers,
      natsOptions: config.nats,
      namespace: "secure_links",
    });
    try {
      expect(await tail.tail()).toBeUndefined(); // no stream yet: reachable, nothing published
    } finally {
      await tail.close();
    }
    const wrong = stack({ NATS_URL: url("orderly:wrong@"), NATS_TLS_CA: ca.cert });
    const refused = new NatsStreamTail({ servers: wrong.natsServers, natsOptions: wrong.nats, namespace: "x" });
    try {
      await expect(refused.tail()).rejects.toThrow(/cannot be reached/);
    } finally {
      await refused.close();
    }
  });

  it("never shows the password: the probe's name and the masked URL", () => {
    const config = stack({ NATS_URL: url(`orderly:${natsPassword}@`), NATS_TLS_CA: ca.cert });
    expect(natsServer(config.natsUrl, config.nats).name).not.toContain(natsPassword);
    expect(maskPassword(config.natsUrl)).not.toContain(natsPassword);
  });
});

describe("Redis over TLS (rediss://) with an ACL user", () => {
  const url = (credentials: string, scheme = "rediss") => `${scheme}://${credentials}localhost:${redis.port}`;

  it("connects with the user and password in REDIS_URL and the CA in REDIS_TLS_CA", async () => {
    const config = stack({ REDIS_URL: url(`orderly:${redisPassword}@`), REDIS_TLS_CA: ca.cert });
    expect(await probe(redisServer(config.redisUrl, config.redis))).toBeUndefined();
    const client = new Redis(config.redisUrl, { ...config.redis, maxRetriesPerRequest: 1 });
    try {
      expect(await client.acl("WHOAMI")).toBe("orderly");
      await client.set("secure_links:key", "v");
      expect(await client.get("secure_links:key")).toBe("v");
    } finally {
      client.disconnect();
    }
  });

  it("is refused with a wrong password, as the disabled default user, with another CA, and in plaintext", async () => {
    const wrong = stack({ REDIS_URL: url("orderly:wrong@"), REDIS_TLS_CA: ca.cert });
    expect(await probe(redisServer(wrong.redisUrl, wrong.redis))).toMatch(/WRONGPASS|invalid username-password/i);
    const anonymous = stack({ REDIS_URL: url(""), REDIS_TLS_CA: ca.cert });
    expect(await probe(redisServer(anonymous.redisUrl, anonymous.redis))).toMatch(/NOAUTH|WRONGPASS|NOPERM|auth/i);
    const otherAuthority = stack({ REDIS_URL: url(`orderly:${redisPassword}@`), REDIS_TLS_CA: otherCa.cert });
    expect(await probe(redisServer(otherAuthority.redisUrl, otherAuthority.redis))).toMatch(/certificate|self.signed/i);
    const plaintext = stack({ REDIS_URL: url(`orderly:${redisPassword}@`, "redis") });
    expect(await probe(redisServer(plaintext.redisUrl, plaintext.redis))).toBeDefined();
    expect(redisServer(plaintext.redisUrl, plaintext.redis).name).not.toContain(redisPassword);
  });
});

describe("a Redis Cluster over TLS with an ACL user (REDIS_URL listing rediss:// seeds)", () => {
  // Three masters serving TLS only (the cluster bus too), the same ACL file, announcing the name their certificate
  // carries (`localhost`): the client reaches the nodes it learns from the slot map with the seeds' user, password
  // and CA (@orderly/observability createRedisClient).
  const seeds = (credentials: string) =>
    (redisCluster as RedisCluster).nodes.map((n) => `rediss://${credentials}localhost:${n.port}`).join(",");

  beforeAll(async () => {
    // The nodes connect to each other over TLS on the cluster bus: their certificate is a client's too.
    const nodeCert = issueCertificate(ca, join(dir, "redis-cluster"), "node", {
      commonName: "localhost",
      hosts: ["localhost"],
      usage: "both",
    });
    redisCluster = await startRedisCluster({
      masters: 3,
      args: (port) => [
        ...redisTlsArgs(port, nodeCert),
        "--tls-ca-cert-file",
        ca.cert,
        "--tls-auth-clients",
        "no",
        "--tls-cluster",
        "yes",
        "--aclfile",
        join(dir, "users.acl"),
        "--cluster-announce-hostname",
        "localhost",
        "--cluster-preferred-endpoint-type",
        "hostname",
      ],
      cli: ["--tls", "--cacert", ca.cert, "--user", "orderly", "--pass", redisPassword, "--no-auth-warning"],
    });
  }, 60_000);

  it("connects to every master with the seeds' user, password and CA; each slot's key lands on its master", async () => {
    const config = stack({ REDIS_URL: seeds(`orderly:${redisPassword}@`), REDIS_TLS_CA: ca.cert });
    expect(config.redis.cluster).toBe(true);
    expect(await probe(redisServer(config.redisUrl, config.redis))).toBeUndefined();
    const client = createRedisClient(config.redisUrl, config.redis, { maxRetriesPerRequest: 1 });
    try {
      // Keys in many slots: the client follows the slot map to all three masters (nodes it was not given in REDIS_URL
      // would be reached the same way).
      for (let i = 0; i < 30; i++) await client.set(`{secure_links_${i}}:k`, String(i));
      for (let i = 0; i < 30; i++) expect(await client.get(`{secure_links_${i}}:k`)).toBe(String(i));
      const masters = redisMasters(client);
      expect(masters).toHaveLength(3);
      for (const master of masters) {
        expect(await master.acl("WHOAMI")).toBe("orderly");
        expect(Number(await master.dbsize())).toBeGreaterThan(0);
      }
    } finally {
      client.disconnect();
    }
  });

  it("is refused with a wrong password, another CA, and in plaintext; the password is never shown", async () => {
    const wrong = stack({ REDIS_URL: seeds("orderly:wrong@"), REDIS_TLS_CA: ca.cert });
    expect(await probe(redisServer(wrong.redisUrl, wrong.redis))).toMatch(/WRONGPASS|invalid username-password/i);
    const otherAuthority = stack({ REDIS_URL: seeds(`orderly:${redisPassword}@`), REDIS_TLS_CA: otherCa.cert });
    expect(await probe(redisServer(otherAuthority.redisUrl, otherAuthority.redis))).toMatch(/certificate|self.signed/i);
    const plaintext = stack({ REDIS_URL: seeds(`orderly:${redisPassword}@`).replaceAll("rediss:", "redis:") });
    expect(await probe(redisServer(plaintext.redisUrl, plaintext.redis))).toBeDefined();
    expect(redisServer(plaintext.redisUrl, plaintext.redis).name).not.toContain(redisPassword);
  });
});

describe("Postgres with sslmode=verify-full", () => {
  const url = (host: string, query: string, password = pgPassword) =>
    `postgres://orderly:${password}@${host}:${postgres.port}/postgres?${query}`;

  it("connects with verify-full and the CA in sslrootcert, over TLS", async () => {
    const config = stack({ DATABASE_URL: url("localhost", `sslmode=verify-full&sslrootcert=${ca.cert}`) });
    expect(await probe(postgresServer(config.databaseUrl))).toBeUndefined();
    const pool = createPool(config.databaseUrl, { max: 1 });
    try {
      const { rows } = await pool.query("select ssl from pg_stat_ssl where pid = pg_backend_pid()");
      expect(rows).toEqual([{ ssl: true }]);
    } finally {
      await pool.end();
    }
  });

  it("refuses a server whose certificate names another host, another CA, plaintext and a wrong password", async () => {
    const verify = `sslmode=verify-full&sslrootcert=${ca.cert}`;
    expect(await probe(postgresServer(url("127.0.0.1", verify)))).toMatch(/altnames|hostname|localhost/i);
    expect(await probe(postgresServer(url("localhost", `sslmode=verify-full&sslrootcert=${otherCa.cert}`)))).toMatch(
      /certificate|self.signed/i,
    );
    expect(await probe(postgresServer(url("localhost", "sslmode=disable")))).toMatch(/pg_hba|no encryption/i);
    const wrong = url("localhost", verify, "wrong");
    expect(await probe(postgresServer(wrong))).toMatch(/password authentication failed/);
    expect(postgresServer(wrong).name).not.toContain("wrong");
  });
});
