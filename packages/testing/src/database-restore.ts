import { execFile } from "node:child_process";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import pg from "pg";

const run = promisify(execFile);

/** A `pg_dump` of one database (custom format), taken while it is in use, as a backup is. */
export interface DatabaseDump {
  readonly file: string;
  /** Removes the dump file. */
  remove(): Promise<void>;
}

/** Dumps the database at `databaseUrl` with `pg_dump` (on PATH, or `ORDERLY_PG_BIN`). */
export async function dumpDatabase(databaseUrl: string): Promise<DatabaseDump> {
  const directory = await mkdtemp(join(tmpdir(), "orderly-dump-"));
  const file = join(directory, "database.dump");
  await run(pgTool("pg_dump"), ["--format=custom", `--file=${file}`, databaseUrl]);
  return { file, remove: () => rm(directory, { recursive: true, force: true }) };
}

/**
 * Puts a restored (or, without a dump, a brand-new empty) database in place of the one at `databaseUrl`, as an
 * operator restoring a backup does: the copy is prepared under a temporary name, then the database is dropped (its
 * sessions are terminated; clients reconnect) and the copy renamed into its place. Only ever use it on a test's own
 * database.
 */
export async function replaceDatabase(databaseUrl: string, dump?: DatabaseDump): Promise<void> {
  const target = new URL(databaseUrl);
  const name = decodeURIComponent(target.pathname.slice(1));
  if (!/^orderly_test_[0-9a-f]+$/.test(name)) throw new Error(`replaceDatabase refuses ${name}: not a test database`);
  const staging = `${name}_restoring`;
  const admin = new URL(target);
  admin.pathname = "/postgres";
  const client = new pg.Client({ connectionString: admin.toString() });
  await client.connect();
  try {
    await client.query(`drop database if exists ${staging} with (force)`);
    await client.query(`create database ${staging}`);
    try {
      if (dump !== undefined) {
        const stagingUrl = new URL(target);
        stagingUrl.pathname = `/${staging}`;
        await run(pgTool("pg_restore"), ["--no-owner", "--exit-on-error", `--dbname=${stagingUrl}`, dump.file]);
      }
      await client.query(`drop database ${name} with (force)`);
      await client.query(`alter database ${staging} rename to ${name}`);
    } catch (error) {
      await client.query(`drop database if exists ${staging} with (force)`);
      throw error;
    }
  } finally {
    await client.end();
  }
}

function pgTool(tool: string): string {
  const bin = process.env.ORDERLY_PG_BIN;
  return bin === undefined ? tool : join(bin, tool);
}
