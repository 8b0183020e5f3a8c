import { userInfo } from "node:os";
import { describe, expect, it } from "vitest";
import { ConfigError, problemCollector, readPort, readStackConfig, withDefaultUser } from "./config.js";
import { configErrorOf } from "./testing.js";

describe("readStackConfig", () => {
  it("uses the defaults that run on a developer's machine", () => {
    expect(readStackConfig({})).toEqual({
      databaseUrl: `postgres://${userInfo().username}@127.0.0.1:5432/orderly`,
      natsUrl: "nats://127.0.0.1:4222",
      natsServers: ["nats://127.0.0.1:4222"],
      redisUrl: "redis://127.0.0.1:6379",
      nats: { servers: ["nats://127.0.0.1:4222"] },
      redis: {},
      namespace: "orderly",
      commandPort: 50051,
      queryPort: 50052,
      streamReplicas: 1,
    });
  });

  it("gives a Postgres URL without a user the OS user's name, even with USER unset (as psql does)", () => {
    expect(withDefaultUser("postgres://127.0.0.1:5432/orderly", {})).toBe(
      `postgres://${userInfo().username}@127.0.0.1:5432/orderly`,
    );
    expect(withDefaultUser("postgres://127.0.0.1:5432/orderly", { USER: "ann" })).toBe(
      "postgres://ann@127.0.0.1:5432/orderly",
    );
    expect(withDefaultUser("postgres://127.0.0.1:5432/orderly", { USER: "ann", PGUSER: "bob" })).toBe(
      "postgres://bob@127.0.0.1:5432/orderly",
    );
    expect(withDefaultUser("postgres://u:p@h/db", {})).toBe("postgres://u:p@h/db");
    expect(withDefaultUser("postgres://h/db?user=x", {})).toBe("postgres://h/db?user=x");
  });

  it("reads every variable", () => {
    const config = readStackConfig({
      DATABASE_URL: "postgresql://u:p@db:5433/x",
      NATS_URL: "nats://n:4223",
      REDIS_URL: "rediss://r:6380",
      ORDERLY_NAMESPACE: "t_1a2b",
      COMMAND_PORT: "0",
      QUERY_PORT: "6000",
      ORDERLY_STREAM_REPLICAS: "3",
    });
    expect(config).toEqual({
      databaseUrl: "postgresql://u:p@db:5433/x",
      natsUrl: "nats://n:4223",
      natsServers: ["nats://n:4223"],
      redisUrl: "rediss://r:6380",
      nats: { servers: ["nats://n:4223"] },
      redis: {},
      namespace: "t_1a2b",
      commandPort: 0,
      queryPort: 6000,
      streamReplicas: 3,
    });
  });

  it("takes NATS credentials out of the URLs (user:password, or a token), and the TLS and creds files", () => {
    const withUser = readStackConfig({ NATS_URL: "tls://orderly:s%40cret@n1:4222,tls://n2:4222" });
    expect(withUser.nats).toEqual({
      servers: ["tls://n1:4222", "tls://n2:4222"],
      user: "orderly",
      pass: "s@cret",
      tls: {},
    });
    const withToken = readStackConfig({ NATS_URL: "nats://t0ken@n:4222", NATS_TLS_CA: "/dev/null" });
    expect(withToken.nats).toEqual({ servers: ["nats://n:4222"], token: "t0ken", tls: { caFile: "/dev/null" } });
    expect(() => readStackConfig({ NATS_CREDS_FILE: "/nonexistent/x.creds" })).toThrow(
      'NATS_CREDS_FILE="/nonexistent/x.creds" cannot be read: ENOENT',
    );
    expect(() => readStackConfig({ NATS_TLS_CERT: "/dev/null" })).toThrow("NATS_TLS_CERT and NATS_TLS_KEY go together");
  });

  it("reads Redis TLS files for a rediss:// URL only", () => {
    expect(readStackConfig({ REDIS_URL: "rediss://u:p@r:6380", REDIS_TLS_CA: "/dev/null" }).redis).toEqual({
      tls: { ca: "" },
    });
    expect(() => readStackConfig({ REDIS_TLS_CA: "/dev/null" })).toThrow("need a rediss:// REDIS_URL");
  });

  it("takes a NATS cluster as a comma-separated NATS_URL, and checks every entry", () => {
    const config = readStackConfig({ NATS_URL: "nats://a:4222, nats://b:4222,tls://c:4222" });
    expect(config.natsServers).toEqual(["nats://a:4222", "nats://b:4222", "tls://c:4222"]);
    expect(config.natsUrl).toBe("nats://a:4222,nats://b:4222,tls://c:4222");
    expect(() => readStackConfig({ NATS_URL: "nats://a:4222,http://b:4222" })).toThrow(
      'NATS_URL="nats://a:4222,http://b:4222": "http://b:4222" has scheme "http", expected nats or tls',
    );
    expect(() => readStackConfig({ NATS_URL: ",," })).toThrow('NATS_URL=",," lists no server');
  });

  it("wants ORDERLY_STREAM_REPLICAS between 1 and 5", () => {
    for (const bad of ["0", "6", "three", "1.5"]) {
      expect(() => readStackConfig({ ORDERLY_STREAM_REPLICAS: bad })).toThrow(
        `ORDERLY_STREAM_REPLICAS=${JSON.stringify(bad)} is not a replica count`,
      );
    }
  });

  it("names each bad variable and its value, all at once", () => {
    const error = configErrorOf(() =>
      readStackConfig({
        DATABASE_URL: "mysql://h/db",
        NATS_URL: "not a url",
        REDIS_URL: "redis://127.0.0.1:6379",
        ORDERLY_NAMESPACE: "a.b",
        COMMAND_PORT: "70000",
        QUERY_PORT: "x1",
      }),
    );
    expect(error).toBeInstanceOf(ConfigError);
    const problems = error.problems;
    expect(problems).toHaveLength(5);
    expect(problems[0]).toBe(
      'DATABASE_URL="mysql://h/db" has scheme "mysql", expected postgres or postgresql (e.g. postgres://127.0.0.1:5432/orderly)',
    );
    expect(problems[1]).toBe('NATS_URL="not a url" is not a URL (expected e.g. nats://127.0.0.1:4222)');
    expect(problems[2]).toMatch(/^ORDERLY_NAMESPACE="a\.b" is not a valid namespace/);
    expect(problems[3]).toMatch(/^COMMAND_PORT="70000" is not a TCP port/);
    expect(problems[4]).toMatch(/^QUERY_PORT="x1" is not a TCP port/);
    expect(error.message).toContain('DATABASE_URL="mysql://h/db"');
  });

  it("takes a comma-separated REDIS_URL (or REDIS_CLUSTER=1) for a Redis Cluster, and checks its seeds agree", () => {
    const list = readStackConfig({ REDIS_URL: " redis://u:p@r1:7000 , redis://u:p@r2:7001," });
    expect(list.redisUrl).toBe("redis://u:p@r1:7000,redis://u:p@r2:7001");
    expect(list.redis).toEqual({ cluster: true });
    expect(readStackConfig({ REDIS_URL: "redis://r1:7000", REDIS_CLUSTER: "1" }).redis).toEqual({ cluster: true });
    expect(readStackConfig({ REDIS_URL: "redis://r1:7000", REDIS_CLUSTER: "0" }).redis).toEqual({});
    expect(
      readStackConfig({ REDIS_URL: "rediss://r1:7000,rediss://r2:7000", REDIS_TLS_CA: "/dev/null" }).redis,
    ).toEqual({ tls: { ca: "" }, cluster: true });
    const problems = (env: Record<string, string>) => {
      try {
        readStackConfig(env);
        return [];
      } catch (error) {
        return [...(error as ConfigError).problems];
      }
    };
    expect(problems({ REDIS_URL: "redis://r1:7000,http://r2:7000" })).toEqual([
      'REDIS_URL="redis://r1:7000,http://r2:7000": "http://r2:7000" has scheme "http", expected redis or rediss (e.g. redis://127.0.0.1:6379)',
      expect.stringMatching(/^REDIS_URL mixes redis:\/\/ and rediss:\/\/ seeds/),
    ]);
    expect(problems({ REDIS_URL: "redis://a:secret@r1:7000,redis://r2:7000" })).toEqual([
      expect.stringMatching(/seeds carry different users or passwords/),
    ]);
    expect(problems({ REDIS_URL: "redis://a:secret@r1:7000,redis://a:secret@r2:7000/2" })).toEqual([
      'REDIS_URL seed redis://a:***@r2:7000/2 names database "2": a Redis Cluster has only database 0',
    ]);
    expect(problems({ REDIS_URL: "redis://r1:7000", REDIS_CLUSTER: "maybe" })).toEqual([
      'REDIS_CLUSTER="maybe" is not a switch (expected 1 or 0)',
    ]);
    expect(problems({ REDIS_URL: "redis://r1:7000,rediss://r2:7000", REDIS_TLS_CA: "/dev/null" })).toContain(
      "REDIS_TLS_CA/CERT/KEY need a rediss:// REDIS_URL (TLS)",
    );
    expect(problems({ REDIS_URL: "," })).toEqual([
      'REDIS_URL="," lists no server (expected e.g. redis://127.0.0.1:6379)',
    ]);
  });

  it("wants a database name in DATABASE_URL", () => {
    expect(() => readStackConfig({ DATABASE_URL: "postgres://127.0.0.1:5432" })).toThrow(
      'DATABASE_URL="postgres://127.0.0.1:5432" names no database',
    );
  });
});

describe("readPort", () => {
  it("falls back, reads, and rejects", () => {
    expect(readPort({}, "METRICS_PORT", 9401)).toBe(9401);
    expect(readPort({ METRICS_PORT: "9500" }, "METRICS_PORT", 9401)).toBe(9500);
    expect(() => readPort({ METRICS_PORT: "-1" }, "METRICS_PORT", 9401)).toThrow('METRICS_PORT="-1" is not a TCP port');
  });
});

describe("problemCollector", () => {
  it("gathers the problems of every reader that throws a ConfigError, rethrows any other error", () => {
    const problems: string[] = [];
    const collect = problemCollector(problems);
    expect(collect(() => readPort({ P: "x" }, "P", 1), 7)).toBe(7);
    expect(collect(() => readPort({ Q: "99999" }, "Q", 2), 8)).toBe(8);
    expect(collect(() => 3, 9)).toBe(3);
    expect(problems).toHaveLength(2);
    expect(problems[0]).toMatch(/^P="x" is not a TCP port/);
    expect(() =>
      collect(() => {
        throw new TypeError("a bug");
      }, 0),
    ).toThrow(TypeError);
  });
});
