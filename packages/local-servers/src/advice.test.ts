import type { DependencyStatus } from "@orderly/observability";
import { describe, expect, it } from "vitest";
import { adviceFor } from "./advice.js";
import { addressOf, isLoopback } from "./servers.js";

const down = (over: Partial<DependencyStatus>): DependencyStatus => ({
  name: "Redis",
  url: "redis://127.0.0.1:6390",
  up: false,
  kind: "not-listening",
  error: "connect ECONNREFUSED 127.0.0.1:6390",
  howToStart: "redis-server",
  ...over,
});
const context = { installed: {}, fallback: true, loopback: true, dataDir: ".orderly" };

describe("adviceFor", () => {
  it("not installed: the install commands for Debian/Ubuntu and macOS", () => {
    const text = adviceFor(down({}), context);
    expect(text).toContain("it is not installed on this machine (no redis-server on PATH)");
    expect(text).toContain("Debian/Ubuntu: sudo apt-get install redis-server · macOS: brew install redis");
  });

  it("installed, not running, own servers off: how to start it", () => {
    const text = adviceFor(down({}), { ...context, installed: { redis: "/usr/bin/redis-server" }, fallback: false });
    expect(text).toContain("Redis is installed (/usr/bin/redis-server) but not running at redis://127.0.0.1:6390");
    expect(text).toContain("without --no-servers");
  });

  it("a Postgres too old to run Orderly", () => {
    const installed = {
      postgres: { dir: "/old/bin", initdb: "", pgCtl: "", postgres: "", version: "12.9", major: 12 },
    };
    const text = adviceFor(down({ name: "Postgres", url: "postgres://u@127.0.0.1:1/o" }), { ...context, installed });
    expect(text).toContain("the installed one (12.9, /old/bin) is older than Postgres 13");
  });

  it("refused credentials, no JetStream, a running Postgres too old: each its own cause", () => {
    expect(adviceFor(down({ kind: "auth-refused", error: "WRONGPASS" }), context)).toContain(
      "refused the connection's credentials: WRONGPASS",
    );
    expect(adviceFor(down({ name: "NATS", url: "nats://127.0.0.1:1", kind: "no-jetstream" }), context)).toContain(
      "runs without JetStream",
    );
    expect(
      adviceFor(down({ name: "Postgres", url: "postgres://x", kind: "too-old", version: "12.3" }), context),
    ).toContain("is version 12.3; Orderly needs Postgres 13 or newer");
  });

  it("an address elsewhere: never an own server", () => {
    const text = adviceFor(down({ url: "redis://10.0.0.5:6379" }), { ...context, loopback: false });
    expect(text).toContain("runs its own servers only for loopback addresses");
  });
});

describe("addresses", () => {
  it("knows loopback and default ports", () => {
    expect(["127.0.0.1", "127.1.2.3", "localhost", "[::1]", "::1"].every(isLoopback)).toBe(true);
    expect(["10.0.0.1", "db", "::2"].some(isLoopback)).toBe(false);
    expect(addressOf("postgres://u@127.0.0.1/o")).toEqual({ host: "127.0.0.1", port: 5432 });
    expect(addressOf("nats://[::1]:4333")).toEqual({ host: "::1", port: 4333 });
    expect(addressOf("redis://localhost")).toEqual({ host: "localhost", port: 6379 });
  });
});
