import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createPool, ensureDatabase } from "./database.js";
import { migrateEventStore, runMigrations } from "./migrations.js";
import { testEnvironmentForFile } from "./test-database.js";

const file = testEnvironmentForFile();
let directory: string;
const pools: pg.Pool[] = [];
const createdDatabases: string[] = [];

beforeAll(async () => {
  directory = await mkdtemp(join(tmpdir(), "orderly-migrations-"));
});

afterAll(async () => {
  await Promise.allSettled(pools.map((p) => p.end()));
  if (createdDatabases.length > 0) {
    const admin = new pg.Client({ connectionString: withDatabase(file.env.databaseUrl, "postgres") });
    await admin.connect();
    for (const name of createdDatabases) await admin.query(`drop database if exists "${name}" with (force)`);
    await admin.end();
  }
  await rm(directory, { recursive: true, force: true });
});

function withDatabase(url: string, database: string): string {
  const copy = new URL(url);
  copy.pathname = `/${database}`;
  return copy.toString();
}

function pool(url = file.env.databaseUrl): pg.Pool {
  const created = createPool(url, { max: 2 });
  pools.push(created);
  return created;
}

describe("migrations", () => {
  it("applies the event store schema once; running it again (also concurrently) is harmless", async () => {
    const starters = [pool(), pool(), pool(), pool()];
    const results = await Promise.all(starters.map((p) => migrateEventStore(p)));
    const applied = results.flat();
    expect(applied.map((m) => m.version).sort()).toEqual([1, 2, 3, 4, 5, 6, 7, 8]);
    expect(await migrateEventStore(pool())).toEqual([]);
    const rows = await pool().query("select component, version, name from schema_migrations order by version");
    expect(rows.rows).toEqual([
      { component: "event-store", version: 1, name: "event_store" },
      { component: "event-store", version: 2, name: "append_function" },
      { component: "event-store", version: 3, name: "append_without_streams" },
      { component: "event-store", version: 4, name: "append_generic_plans" },
      { component: "event-store", version: 5, name: "append_index_plans" },
      { component: "event-store", version: 6, name: "store_identity" },
      { component: "event-store", version: 7, name: "event_actor" },
      { component: "event-store", version: 8, name: "event_schema_version" },
    ]);
    const counter = await pool().query("select last from global_position");
    expect(counter.rows).toEqual([{ last: 0 }]);
  });

  it("runs each file in a transaction: a failing file leaves nothing behind and stops the run", async () => {
    await writeFile(join(directory, "0001_create_things.sql"), "create table things (id int primary key);");
    await writeFile(
      join(directory, "0002_broken.sql"),
      "create table half_done (id int); insert into nowhere values (1);",
    );
    await expect(runMigrations(pool(), { component: "things", directory })).rejects.toThrow(/0002_broken\.sql failed/);
    const tables = await pool().query(
      "select table_name from information_schema.tables where table_name in ('things', 'half_done') order by 1",
    );
    expect(tables.rows).toEqual([{ table_name: "things" }]);
    await writeFile(join(directory, "0002_broken.sql"), "create table half_done (id int);");
    expect(await runMigrations(pool(), { component: "things", directory })).toEqual([{ version: 2, name: "broken" }]);
    expect(await runMigrations(pool(), { component: "things", directory })).toEqual([]);
  });

  it("refuses a renamed applied migration and badly named files", async () => {
    const own = await mkdtemp(join(tmpdir(), "orderly-migrations-"));
    try {
      await writeFile(join(own, "0001_first.sql"), "select 1;");
      await runMigrations(pool(), { component: "renamed", directory: own });
      await rm(join(own, "0001_first.sql"));
      await writeFile(join(own, "0001_second.sql"), "select 1;");
      await expect(runMigrations(pool(), { component: "renamed", directory: own })).rejects.toThrow(/applied as/);
      await writeFile(join(own, "1_bad.sql"), "select 1;");
      await expect(runMigrations(pool(), { component: "renamed", directory: own })).rejects.toThrow(/NNNN_name/);
    } finally {
      await rm(own, { recursive: true, force: true });
    }
  });

  it("ensureDatabase creates a missing database and is idempotent, also when racing", async () => {
    const name = `${new URL(file.env.databaseUrl).pathname.slice(1)}_ensure`;
    createdDatabases.push(name);
    const url = withDatabase(file.env.databaseUrl, name);
    await Promise.all([ensureDatabase(url), ensureDatabase(url), ensureDatabase(url)]);
    await ensureDatabase(url);
    const result = await pool(url).query("select current_database() as db");
    expect(result.rows).toEqual([{ db: name }]);
  });
});
