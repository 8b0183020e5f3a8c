import { withTestEnvironment } from "@orderly/testing";
import pg from "pg";
import { describe, expect, it } from "vitest";
import { backendProcessId } from "./pg.js";

describe("node-postgres internals", () => {
  it("a connected client still tells its backend process id (else timed-out statements are no longer cancelled)", () =>
    withTestEnvironment(async (env) => {
      const client = new pg.Client({ connectionString: env.databaseUrl });
      await client.connect();
      try {
        const { rows } = await client.query<{ pid: number }>("select pg_backend_pid() as pid");
        expect(backendProcessId(client)).toBe(rows[0]?.pid);
      } finally {
        await client.end();
      }
      expect(backendProcessId({})).toBeUndefined();
    }));
});
