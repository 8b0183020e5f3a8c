import { execFileSync, spawn } from "node:child_process";
import { chmodSync, chownSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { networkInterfaces, tmpdir } from "node:os";
import { join } from "node:path";
import { createCommandClient, createQueryClient } from "@orderly/client";
import { accepts, findInstalledServers } from "@orderly/local-servers";
import {
  createTestEnvironment,
  eventually,
  freePort,
  type RunningService,
  startService,
  type TestEnvironment,
} from "@orderly/testing";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { clientSecurity, serviceUrl } from "../secure-mode.js";
import { alive, stackEntry, stackLogs } from "./support.js";

const installed = findInstalledServers(process.env);
const cliEntry = stackEntry.replace("/stack/dist/main.js", "/orderly-cli/dist/main.js");
const root = process.getuid?.() === 0;

/** A temporary folder the `postgres` OS user can reach (Postgres runs as that user when we are root). */
function tempDir(prefix: string): string {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  chmodSync(dir, 0o755);
  return dir;
}

/** Free ports for every service of the stack and for its three servers. */
async function stackPorts(): Promise<Record<string, string>> {
  const names = [
    "COMMAND_PORT",
    "QUERY_PORT",
    "COMMAND_SERVICE_METRICS_PORT",
    "QUERY_SERVICE_METRICS_PORT",
    "OUTBOX_RELAY_METRICS_PORT",
    "PROJECTOR_POSTGRES_METRICS_PORT",
    "PROJECTOR_REDIS_METRICS_PORT",
  ];
  const ports: Record<string, string> = {};
  for (const name of names) ports[name] = String(await freePort());
  return ports;
}

function messages(output: string): string[] {
  return stackLogs(output).map((l) => String(l.msg));
}

/** Runs the stack until it exits by itself (an error case); resolves with its exit code and output. */
async function runToExit(
  env: Record<string, string>,
  args: string[] = [],
): Promise<{ code: number | string; output: string }> {
  const stack = await startService({
    name: "stack-error",
    entry: stackEntry,
    args,
    env: { LOG_FORMAT: "json", ...env },
  });
  const code = await stack.exited;
  return { code, output: stack.output() };
}

describe.skipIf(!installed.postgres || !installed.nats || !installed.redis)(
  "pnpm start with nothing listening: its own Postgres, NATS and Redis",
  () => {
    let dataDir: string;
    let servers: { DATABASE_URL: string; NATS_URL: string; REDIS_URL: string };
    const savedUser = process.env.USER;
    beforeAll(async () => {
      dataDir = join(tempDir("orderly-own-servers-"), "data");
      // USER unset, as in many containers, and a URL without a user: the OS user's name is used (as psql does).
      delete process.env.USER;
      servers = {
        DATABASE_URL: `postgres://127.0.0.1:${await freePort()}/orderly`,
        NATS_URL: `nats://127.0.0.1:${await freePort()}`,
        REDIS_URL: `redis://127.0.0.1:${await freePort()}`,
      };
    });
    afterAll(() => {
      if (savedUser !== undefined) process.env.USER = savedUser;
    });

    async function start(
      name: string,
      args: string[] = [],
    ): Promise<{ stack: RunningService; env: Record<string, string>; ms: number }> {
      const env = {
        ...servers,
        ...(await stackPorts()),
        ORDERLY_DATA_DIR: dataDir,
        ORDERLY_NAMESPACE: "orderly",
        LOG_FORMAT: "json",
      };
      const started = Date.now();
      const stack = await startService({
        name,
        entry: stackEntry,
        args,
        env,
        readyLine: /services ready \(Ctrl-C stops them all\)/,
        readyTimeoutMs: 120_000,
      });
      return { stack, env, ms: Date.now() - started };
    }

    function serverPids(stack: RunningService): number[] {
      return stackLogs(stack.output())
        .filter((l) => typeof l.pid === "number" && typeof l.server === "string" && String(l.msg).startsWith("started"))
        .map((l) => l.pid as number);
    }

    async function expectAllGone(pids: number[]): Promise<void> {
      for (const url of Object.values(servers)) {
        const u = new URL(url);
        expect(await accepts(u.hostname, Number(u.port)), `${url} still answers`).toBe(false);
      }
      // pg_ctl stop returns when the pid file is gone; the process itself and its reaping follow a moment later.
      await eventually(() => pids.every((pid) => !alive(pid)), "every server process to be gone", 10_000);
    }

    async function stopAndCheckNothingLeft(stack: RunningService): Promise<void> {
      const pids = serverPids(stack);
      expect(await stack.stop("SIGTERM", 60_000)).toBe(0);
      const msgs = messages(stack.output());
      for (const name of ["Postgres", "NATS", "Redis"]) {
        expect(msgs.some((m) => m.startsWith(`stopped own ${name} on 127.0.0.1:`))).toBe(true);
      }
      await expectAllGone(pids);
    }

    let orderId = "";
    it("starts them on the configured ports, serves commands and queries, and leaves nothing running after SIGTERM", async () => {
      const { stack, env, ms } = await start("stack-own-servers");
      try {
        const msgs = messages(stack.output());
        const pgPort = new URL(servers.DATABASE_URL).port;
        const startedPg = msgs.find((m) => m.startsWith(`started own Postgres on 127.0.0.1:${pgPort}`));
        expect(startedPg).toContain(`data in ${join(dataDir, "postgres")} (new)`);
        if (root) expect(startedPg).toContain('running as OS user "postgres" because Postgres refuses to run as root');
        expect(msgs.some((m) => m.startsWith(`started own NATS on 127.0.0.1:${new URL(servers.NATS_URL).port}`))).toBe(
          true,
        );
        expect(
          msgs.some((m) => m.startsWith(`started own Redis on 127.0.0.1:${new URL(servers.REDIS_URL).port}`)),
        ).toBe(true);
        process.stderr.write(`first start with own servers: ready in ${ms} ms\n`);

        const commands = createCommandClient({ baseUrl: serviceUrl(env.COMMAND_PORT as string), ...clientSecurity() });
        const queries = createQueryClient({ baseUrl: serviceUrl(env.QUERY_PORT as string), ...clientSecurity() });
        const { accepted } = await commands.createOrder({
          idempotencyKey: crypto.randomUUID(),
          customerId: "c-first-run",
          currency: "EUR",
          items: [{ sku: "book", quantity: 2, unitPriceMinor: 1250n }],
        });
        orderId = accepted?.orderId ?? "";
        const { summary } = await queries.getOrderSummary({ orderId, minPosition: accepted?.position ?? 0n });
        expect(summary?.customerId).toBe("c-first-run");
        const listed = await queries.listCustomerOrders({
          customerId: "c-first-run",
          minPosition: accepted?.position ?? 0n,
        });
        expect(listed.orders.map((o) => o.orderId)).toEqual([orderId]);
      } finally {
        await stopAndCheckNothingLeft(stack);
      }
    });

    it("reuses the data on the next start (the order placed before is still there); --keep-servers leaves them up for `pnpm orderly servers stop`", async () => {
      expect(orderId).not.toBe("");
      const { stack, env, ms } = await start("stack-own-servers-again", ["--keep-servers"]);
      const pids = serverPids(stack);
      try {
        const msgs = messages(stack.output());
        expect(msgs.find((m) => m.startsWith("started own Postgres"))).toContain("(kept from an earlier run)");
        process.stderr.write(`second start with own servers: ready in ${ms} ms\n`);
        const queries = createQueryClient({ baseUrl: serviceUrl(env.QUERY_PORT as string), ...clientSecurity() });
        const { summary } = await queries.getOrderSummary({ orderId });
        expect(summary?.orderId).toBe(orderId);
        const listed = await queries.listCustomerOrders({ customerId: "c-first-run" });
        expect(listed.orders.map((o) => o.orderId)).toEqual([orderId]);

        expect(await stack.stop("SIGTERM", 60_000)).toBe(0);
        expect(
          messages(stack.output()).some((m) => m.includes("running (--keep-servers); `pnpm orderly servers stop`")),
        ).toBe(true);
        for (const url of Object.values(servers)) {
          const u = new URL(url);
          expect(await accepts(u.hostname, Number(u.port)), `${url} answers after --keep-servers`).toBe(true);
        }
        const cli = await startService({
          name: "orderly-servers-stop",
          entry: cliEntry,
          args: ["servers", "stop"],
          env: { ...env, ORDERLY_DATA_DIR: dataDir },
        });
        expect(await cli.exited).toBe(0);
        for (const name of ["Postgres", "NATS", "Redis"]) {
          expect(cli.output()).toMatch(
            new RegExp(`stopped: ${name} on 127\\.0\\.0\\.1:\\d+ \\(data kept in ${dataDir}`),
          );
        }
        await expectAllGone(pids);
      } finally {
        await stack.kill();
        await startService({
          name: "cleanup",
          entry: cliEntry,
          args: ["servers", "stop"],
          env: { ...env, ORDERLY_DATA_DIR: dataDir },
        }).then((c) => c.exited);
        rmSync(join(dataDir, ".."), { recursive: true, force: true });
      }
    });
  },
);

describe("pnpm start names the real cause of a missing dependency, with its fix", () => {
  let env: TestEnvironment;
  const cleanups: (() => void)[] = [];
  beforeAll(async () => {
    env = await createTestEnvironment();
  });
  afterAll(async () => {
    for (const cleanup of cleanups.reverse()) cleanup();
    await env?.cleanup();
  });

  it("not installed: says so with the install commands for Debian/Ubuntu and macOS", async () => {
    const url = `postgres://root@127.0.0.1:${await freePort()}/orderly`;
    const { code, output } = await runToExit({
      ...env.env,
      DATABASE_URL: url,
      ORDERLY_SERVER_PATH: tempDir("orderly-no-servers-"),
    });
    expect(code).toBe(1);
    expect(output).toContain(
      `Postgres is not running at ${url} (DATABASE_URL), and it is not installed on this machine`,
    );
    expect(output).toContain("Debian/Ubuntu: sudo apt-get install postgresql · macOS: brew install postgresql@16");
    expect(output).not.toContain("NATS is");
  });

  it.skipIf(!installed.postgres)("installed but not running, with --no-servers: how to start it", async () => {
    const url = `postgres://root@127.0.0.1:${await freePort()}/orderly`;
    const { code, output } = await runToExit({ ...env.env, DATABASE_URL: url }, ["--no-servers"]);
    expect(code).toBe(1);
    expect(output).toContain(`Postgres is installed (${installed.postgres?.dir}) but not running at ${url}`);
    expect(output).toContain("start it: Debian/Ubuntu: sudo systemctl start postgresql · macOS: brew services start");
    expect(output).toContain("or run `pnpm start` without --no-servers");
    expect(output).not.toContain("started own");
  });

  it("an installed Postgres older than the oldest supported one: says which version and what to do", async () => {
    const fake = tempDir("orderly-old-postgres-");
    for (const name of ["initdb", "pg_ctl", "postgres"]) {
      writeFileSync(join(fake, name), '#!/bin/sh\necho "postgres (PostgreSQL) 11.22"\n', { mode: 0o755 });
    }
    const url = `postgres://root@127.0.0.1:${await freePort()}/orderly`;
    const { code, output } = await runToExit({ ...env.env, DATABASE_URL: url, ORDERLY_SERVER_PATH: fake });
    expect(code).toBe(1);
    expect(output).toContain(`and the installed one (11.22, ${fake}) is older than Postgres 13`);
    expect(output).toContain("fix: install a newer one");
  });

  it.skipIf(!installed.postgres)(
    "a Postgres that refuses the user: an authentication error, not 'not reachable'",
    async () => {
      const bin = installed.postgres;
      if (!bin) return;
      const dir = tempDir("orderly-password-pg-");
      const data = join(dir, "data");
      const port = await freePort();
      const asPostgres = (program: string, args: string[]) =>
        root
          ? execFileSync("runuser", ["-u", "postgres", "--", program, ...args], { stdio: "pipe" })
          : execFileSync(program, args, { stdio: "pipe" });
      writeFileSync(join(dir, "pw"), "owner-secret\n");
      if (root) {
        const uid = Number(execFileSync("id", ["-u", "postgres"]).toString());
        const gid = Number(execFileSync("id", ["-g", "postgres"]).toString());
        chownSync(dir, uid, gid);
        chownSync(join(dir, "pw"), uid, gid);
      }
      asPostgres(bin.initdb, [
        "-D",
        data,
        "-U",
        "owner",
        "--auth=scram-sha-256",
        `--pwfile=${join(dir, "pw")}`,
        "--no-sync",
      ]);
      asPostgres(bin.pgCtl, [
        "start",
        "-D",
        data,
        "-l",
        join(dir, "log"),
        "-w",
        "-o",
        `-c listen_addresses=127.0.0.1 -p ${port} -c unix_socket_directories='${dir}'`,
      ]);
      cleanups.push(() => {
        asPostgres(bin.pgCtl, ["stop", "-D", data, "-m", "immediate", "-w"]);
        rmSync(dir, { recursive: true, force: true });
      });
      const url = `postgres://someone:wrong@127.0.0.1:${port}/orderly`;
      const { code, output } = await runToExit({ ...env.env, DATABASE_URL: url });
      expect(code).toBe(1);
      expect(output).toContain(
        `Postgres at postgres://someone:***@127.0.0.1:${port}/orderly (DATABASE_URL) refused the connection's credentials`,
      );
      expect(output).toContain('password authentication failed for user "someone"');
      expect(output).toContain("fix: put a user (and password) it accepts into DATABASE_URL");
      expect(output).not.toContain("not reachable");
      expect(output).not.toContain("started own");
    },
  );

  it.skipIf(!installed.nats)("a NATS without JetStream: says so and how to turn it on", async () => {
    const nats = installed.nats;
    if (!nats) return;
    const port = await freePort();
    const server = spawn(nats, ["-a", "127.0.0.1", "-p", String(port)], { stdio: "ignore" });
    cleanups.push(() => server.kill("SIGKILL"));
    for (let i = 0; i < 100 && !(await accepts("127.0.0.1", port)); i++) await new Promise((r) => setTimeout(r, 50));
    const url = `nats://127.0.0.1:${port}`;
    const { code, output } = await runToExit({ ...env.env, NATS_URL: url });
    expect(code).toBe(1);
    expect(output).toContain(`NATS at ${url} (NATS_URL) runs without JetStream`);
    expect(output).toContain("fix: restart nats-server with JetStream on (`nats-server -js -sd <store dir>`");
    expect(output).not.toContain("not reachable");
  });

  it("a URL that points elsewhere is never replaced by a server of ours", async () => {
    // An address of this machine that is not loopback (a refused connection, at once), else TEST-NET-1 (no answer).
    const own = Object.values(networkInterfaces())
      .flat()
      .find((a) => a?.family === "IPv4" && !a.internal)?.address;
    const url = own ? `redis://${own}:${await freePort()}` : "redis://192.0.2.1:6379";
    const { code, output } = await runToExit({ ...env.env, REDIS_URL: url }, []);
    expect(code).toBe(1);
    expect(output).toContain(own ? `Redis is not running at ${url} (REDIS_URL)` : `Redis is not reachable at ${url}`);
    if (own) expect(output).toContain("runs its own servers only for loopback addresses");
    expect(output).not.toContain("started own");
  });
});
