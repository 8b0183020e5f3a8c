import { readdir, readFile } from "node:fs/promises";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import type pg from "pg";

export interface MigrationOptions {
  /** Who owns the migrations (`event-store`, `order-read-models`, ...): versions are per component. */
  readonly component: string;
  /** Directory of `NNNN_name.sql` files, applied in version order. */
  readonly directory: string | URL;
}

export interface AppliedMigration {
  readonly version: number;
  readonly name: string;
}

const FILE_PATTERN = /^(\d{4})_([A-Za-z0-9_-]+)\.sql$/;
/** One advisory lock for every component: migrations are rare, and DDL of different components may touch the same catalog. */
export const MIGRATION_LOCK_KEY = 7_267_401_955_113;

/**
 * Applies the component's pending migrations, each file in its own transaction together with its
 * `schema_migrations` row. A session advisory lock makes concurrent starters safe: the second waits, then finds
 * nothing left to do. Returns the migrations applied by this call (empty when the schema was up to date).
 */
export async function runMigrations(pool: pg.Pool, options: MigrationOptions): Promise<AppliedMigration[]> {
  const directory = options.directory instanceof URL ? fileURLToPath(options.directory) : options.directory;
  const files = await listMigrations(directory);
  const client = await pool.connect();
  let released = false;
  try {
    await client.query("select pg_advisory_lock($1)", [MIGRATION_LOCK_KEY]);
    try {
      await client.query(`create table if not exists schema_migrations (
        component  text        not null,
        version    integer     not null,
        name       text        not null,
        applied_at timestamptz not null default now(),
        primary key (component, version)
      )`);
      const done = await client.query<{ version: number; name: string }>(
        "select version, name from schema_migrations where component = $1",
        [options.component],
      );
      const applied = new Map(done.rows.map((row) => [Number(row.version), row.name]));
      const result: AppliedMigration[] = [];
      for (const file of files) {
        const previous = applied.get(file.version);
        if (previous !== undefined) {
          if (previous !== file.name)
            throw new Error(
              `migration ${options.component} ${file.version} was applied as "${previous}" but the file is now "${file.name}"`,
            );
          continue;
        }
        const sql = await readFile(join(directory, file.fileName), "utf8");
        await client.query("begin");
        try {
          await client.query(sql);
          await client.query("insert into schema_migrations (component, version, name) values ($1, $2, $3)", [
            options.component,
            file.version,
            file.name,
          ]);
          await client.query("commit");
        } catch (error) {
          await client.query("rollback");
          throw new Error(`migration ${options.component} ${file.fileName} failed: ${(error as Error).message}`, {
            cause: error,
          });
        }
        result.push({ version: file.version, name: file.name });
      }
      return result;
    } finally {
      await client.query("select pg_advisory_unlock($1)", [MIGRATION_LOCK_KEY]);
    }
  } catch (error) {
    // A connection in an unknown state must not go back to the pool.
    client.release(error as Error);
    released = true;
    throw error;
  } finally {
    if (!released) client.release();
  }
}

interface MigrationFile {
  readonly version: number;
  readonly name: string;
  readonly fileName: string;
}

async function listMigrations(directory: string): Promise<MigrationFile[]> {
  const files: MigrationFile[] = [];
  for (const fileName of await readdir(directory)) {
    if (!fileName.endsWith(".sql")) continue;
    const match = FILE_PATTERN.exec(fileName);
    if (!match?.[1] || !match[2]) throw new Error(`migration file ${fileName} is not named NNNN_name.sql`);
    files.push({ version: Number(match[1]), name: match[2], fileName });
  }
  files.sort((a, b) => a.version - b.version);
  for (let i = 1; i < files.length; i++) {
    if (files[i]?.version === files[i - 1]?.version)
      throw new Error(`two migrations with version ${files[i]?.version} in ${directory}`);
  }
  return files;
}

/** The event store's own migrations (shipped in this package's `migrations/` directory). */
export const eventStoreMigrations = new URL("../migrations/", import.meta.url);

export function migrateEventStore(pool: pg.Pool): Promise<AppliedMigration[]> {
  return runMigrations(pool, { component: "event-store", directory: eventStoreMigrations });
}
