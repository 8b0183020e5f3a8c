import { createTestEnvironment, type TestEnvironment } from "@orderly/testing";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { backendProcessId } from "./pg.js";

let env: TestEnvironment;

beforeAll(async () => {
  env = await createTestEnvironment();
});

afterAll(async () => {
  await env?.cleanup();
});

describe("node-postgres internals", () => {
  it("a connected client still tells its backend process id (else timed-out statements are no longer cancelled)", async () => {
    const client = new pg.Client({ connectionString: env.databaseUrl });
    await client.connect();
    try {
      const { rows } = await client.query<{ pid: number }>("select pg_backend_pid() as pid");
      expect(backendProcessId(client)).toBe(rows[0]?.pid);
    } finally {
      await client.end();
    }
    expect(backendProcessId({})).toBeUndefined();
  });
});
