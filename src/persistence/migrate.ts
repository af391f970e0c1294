/**
 * Applies the SQL migrations in prisma/migrations and records them in `_prisma_migrations`
 * the way `prisma migrate deploy` does, so that Prisma's CLI, where it can run, agrees on
 * what is applied. The service runs this itself because Prisma's schema engine is a native
 * binary that must be downloaded, which deployment hosts often cannot do.
 */
import { createHash, randomUUID } from "node:crypto";
import { readdir, readFile } from "node:fs/promises";
import { join } from "node:path";
import { fileURLToPath } from "node:url";

import pg from "pg";

import type { Logger } from "../logger.js";

export const MIGRATIONS_DIR = fileURLToPath(new URL("../../prisma/migrations", import.meta.url));

/**
 * Key of the session advisory lock that Prisma Migrate takes on PostgreSQL, so that this
 * runner, `prisma migrate deploy` and other instances of the service never migrate at once.
 */
const MIGRATION_LOCK_KEY = 72707369;

/** Maximum wait in ms to connect to PostgreSQL before start-up fails. */
const CONNECT_TIMEOUT_MS = 10_000;

/** Maximum wait for another instance's migration to finish. */
const MIGRATION_LOCK_TIMEOUT_MS = 120_000;

/** The table definition that Prisma's schema engine creates on PostgreSQL. */
const CREATE_MIGRATIONS_TABLE = `
  CREATE TABLE IF NOT EXISTS _prisma_migrations (
    id                      VARCHAR(36) PRIMARY KEY NOT NULL,
    checksum                VARCHAR(64) NOT NULL,
    finished_at             TIMESTAMPTZ,
    migration_name          VARCHAR(255) NOT NULL,
    logs                    TEXT,
    rolled_back_at          TIMESTAMPTZ,
    started_at              TIMESTAMPTZ NOT NULL DEFAULT now(),
    applied_steps_count     INTEGER NOT NULL DEFAULT 0
  )`;

export interface Migration {
  /** Folder name, such as 20261204120000_create_events. Folders sort in the order to apply. */
  readonly name: string;
  readonly sql: string;
  /** SHA-256 of the file in hex, as Prisma computes it. */
  readonly checksum: string;
}

interface AppliedMigration {
  readonly migration_name: string;
  readonly checksum: string;
  readonly finished_at: Date | null;
}

export class MigrationError extends Error {
  override readonly name = "MigrationError";
}

/** Reads the migrations from `directory`, sorted by folder name. */
export async function readMigrations(directory = MIGRATIONS_DIR): Promise<Migration[]> {
  const entries = await readdir(directory, { withFileTypes: true });
  const names = entries
    .filter((entry) => entry.isDirectory())
    .map((entry) => entry.name)
    .sort();

  return Promise.all(
    names.map(async (name) => {
      const sql = await readFile(join(directory, name, "migration.sql"), "utf8");
      const checksum = createHash("sha256").update(sql).digest("hex");
      return { name, sql, checksum };
    }),
  );
}

/**
 * Creates the database named in `databaseUrl` if it does not exist, connecting to the
 * `postgres` maintenance database with the same credentials.
 */
export async function ensureDatabase(databaseUrl: string, logger: Logger): Promise<void> {
  const target = new URL(databaseUrl);
  const database = decodeURIComponent(target.pathname.slice(1));
  if (database === "" || database === "postgres") return;
  if (await databaseAccepts(databaseUrl)) return;

  const maintenance = new URL(databaseUrl);
  maintenance.pathname = "/postgres";
  const client = new pg.Client({
    connectionString: maintenance.toString(),
    connectionTimeoutMillis: CONNECT_TIMEOUT_MS,
  });
  await client.connect();
  try {
    const found = await client.query("SELECT 1 FROM pg_database WHERE datname = $1", [database]);
    if (found.rowCount === 0) {
      await client.query(`CREATE DATABASE ${client.escapeIdentifier(database)}`);
      logger.info({ database }, "database created");
    }
  } catch (error) {
    // Another instance created it between the check and here: PostgreSQL reports 42P04
    // duplicate_database, or 23505 from pg_database's unique index when both run at once.
    const code = (error as { code?: string }).code;
    if (code !== "42P04" && code !== "23505") throw error;
  } finally {
    await client.end();
  }
}

/**
 * Returns whether a connection to `databaseUrl` succeeds, and false when the database does
 * not exist (3D000 invalid_catalog_name). Other failures are thrown. Trying the database
 * first serves roles that may connect to it but not to `postgres`.
 */
async function databaseAccepts(databaseUrl: string): Promise<boolean> {
  const client = new pg.Client({
    connectionString: databaseUrl,
    connectionTimeoutMillis: CONNECT_TIMEOUT_MS,
  });
  try {
    await client.connect();
    return true;
  } catch (error) {
    if ((error as { code?: string }).code === "3D000") return false;
    throw error;
  } finally {
    await client.end().catch(() => {});
  }
}

/**
 * Applies every migration not yet recorded, each in its own transaction, while holding the
 * advisory lock. Returns the names of the migrations applied by this call.
 */
export async function applyMigrations(
  databaseUrl: string,
  logger: Logger,
  migrations?: readonly Migration[],
): Promise<string[]> {
  const pending = migrations ?? (await readMigrations());
  const client = new pg.Client({
    connectionString: databaseUrl,
    connectionTimeoutMillis: CONNECT_TIMEOUT_MS,
  });
  await client.connect();
  try {
    await client.query(`SET lock_timeout = ${MIGRATION_LOCK_TIMEOUT_MS}`);
    await client.query("SELECT pg_advisory_lock($1)", [MIGRATION_LOCK_KEY]);
    try {
      await client.query(CREATE_MIGRATIONS_TABLE);
      return await applyPending(client, pending, logger);
    } finally {
      // The lock also ends with the session, so a failed unlock on a broken connection
      // must not hide the error that broke it.
      await client.query("SELECT pg_advisory_unlock($1)", [MIGRATION_LOCK_KEY]).catch(() => {});
    }
  } finally {
    await client.end();
  }
}

async function applyPending(
  client: pg.Client,
  migrations: readonly Migration[],
  logger: Logger,
): Promise<string[]> {
  const applied = await readApplied(client);
  const known = new Set(migrations.map((migration) => migration.name));
  for (const name of applied.keys()) {
    if (!known.has(name)) {
      logger.warn({ migration: name }, "database has a migration that this version does not know");
    }
  }

  const appliedNow: string[] = [];
  for (const migration of migrations) {
    const record = applied.get(migration.name);
    if (record === undefined) {
      await applyOne(client, migration);
      logger.info({ migration: migration.name }, "migration applied");
      appliedNow.push(migration.name);
    } else if (record.finished_at === null) {
      throw new MigrationError(
        `Migration ${migration.name} started earlier but never finished. Repair the schema, ` +
          `then delete its row from _prisma_migrations or mark it applied.`,
      );
    } else if (record.checksum !== migration.checksum) {
      logger.warn(
        { migration: migration.name },
        "migration file changed after it was applied; the database keeps the applied version",
      );
    }
  }
  if (appliedNow.length === 0) {
    logger.info({ migrationCount: migrations.length }, "migrations up to date");
  }
  return appliedNow;
}

async function readApplied(client: pg.Client): Promise<Map<string, AppliedMigration>> {
  const result = await client.query<AppliedMigration>(
    `SELECT migration_name, checksum, finished_at FROM _prisma_migrations
     WHERE rolled_back_at IS NULL ORDER BY started_at`,
  );
  return new Map(result.rows.map((row) => [row.migration_name, row]));
}

async function applyOne(client: pg.Client, migration: Migration): Promise<void> {
  await client.query("BEGIN");
  try {
    const startedAt = new Date();
    await client.query(migration.sql);
    await client.query(
      `INSERT INTO _prisma_migrations
         (id, checksum, finished_at, migration_name, started_at, applied_steps_count)
       VALUES ($1, $2, now(), $3, $4, 1)`,
      [randomUUID(), migration.checksum, migration.name, startedAt],
    );
    await client.query("COMMIT");
  } catch (error) {
    await client.query("ROLLBACK");
    throw new MigrationError(`Migration ${migration.name} failed: ${String(error)}`, {
      cause: error,
    });
  }
}
