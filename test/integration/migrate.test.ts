import { createHash } from "node:crypto";
import { readFile } from "node:fs/promises";
import { join } from "node:path";

import { PrismaPg } from "@prisma/adapter-pg";
import { expect } from "chai";
import pg from "pg";

import { PrismaClient } from "../../src/generated/prisma/client.js";
import { createLogger } from "../../src/logger.js";
import {
  applyMigrations,
  ensureDatabase,
  MIGRATIONS_DIR,
  MigrationError,
  readMigrations,
} from "../../src/persistence/migrate.js";
import { dropDatabase, scratchDatabaseUrl } from "../support/database.js";
import { LogCapture } from "../support/logs.js";

interface MigrationRow {
  migration_name: string;
  checksum: string;
  finished_at: Date | null;
  applied_steps_count: number;
}

async function query<T extends pg.QueryResultRow>(databaseUrl: string, sql: string): Promise<T[]> {
  const client = new pg.Client({ connectionString: databaseUrl });
  await client.connect();
  try {
    return (await client.query<T>(sql)).rows;
  } finally {
    await client.end();
  }
}

describe("migrations", () => {
  let databaseUrl: string;
  let logs: LogCapture;
  let logger: ReturnType<typeof createLogger>;

  beforeEach(async () => {
    databaseUrl = scratchDatabaseUrl("events_migrate");
    logs = new LogCapture();
    logger = createLogger("debug", logs);
    await ensureDatabase(databaseUrl, logger);
  });

  afterEach(async () => {
    await dropDatabase(databaseUrl);
  });

  it("ensureDatabase creates a missing database once", async () => {
    await ensureDatabase(databaseUrl, logger);

    expect(logs.find("database created")).to.have.length(1);
    expect(await query(databaseUrl, "SELECT 1 AS one")).to.deep.equal([{ one: 1 }]);
  });

  it("applyMigrations records each migration as Prisma does", async () => {
    const migrations = await readMigrations();

    const applied = await applyMigrations(databaseUrl, logger);

    expect(applied).to.deep.equal(migrations.map((migration) => migration.name));
    const rows = await query<MigrationRow>(
      databaseUrl,
      "SELECT migration_name, checksum, finished_at, applied_steps_count FROM _prisma_migrations ORDER BY migration_name",
    );
    for (const [index, migration] of migrations.entries()) {
      const file = await readFile(join(MIGRATIONS_DIR, migration.name, "migration.sql"));
      const row = rows[index];
      expect(row?.migration_name).to.equal(migration.name);
      expect(row?.checksum).to.equal(createHash("sha256").update(file).digest("hex"));
      expect(row?.finished_at).to.be.instanceOf(Date);
      expect(row?.applied_steps_count).to.equal(1);
    }
  });

  it("applyMigrations applies nothing the second time", async () => {
    await applyMigrations(databaseUrl, logger);

    const applied = await applyMigrations(databaseUrl, logger);

    expect(applied).to.deep.equal([]);
  });

  it("applyMigrations logs that nothing was pending", async () => {
    await applyMigrations(databaseUrl, logger);
    const names = (await readMigrations()).map((migration) => migration.name);
    expect(logs.find("migrations up to date")).to.deep.equal([]);

    await applyMigrations(databaseUrl, logger);

    const lines = logs.find("migrations up to date");
    expect(lines).to.have.lengthOf(1);
    expect(lines[0]?.level).to.equal("info");
    expect(lines[0]?.migrationCount).to.equal(names.length);
  });

  it("applyMigrations applies each migration once when instances start together", async () => {
    const runs = await Promise.all([1, 2, 3, 4].map(() => applyMigrations(databaseUrl, logger)));

    const names = (await readMigrations()).map((migration) => migration.name);
    expect(runs.flat().sort()).to.deep.equal(names);
    const rows = await query(databaseUrl, "SELECT migration_name FROM _prisma_migrations");
    expect(rows).to.have.length(names.length);
  });

  it("applyMigrations rolls back a failing migration and records nothing", async () => {
    const broken = {
      name: "20000101000000_broken",
      sql: "CREATE TABLE half_done (id int); SELECT no_such_function();",
      checksum: "0".repeat(64),
    };

    const failure = await applyMigrations(databaseUrl, logger, [broken]).catch((error) => error);

    expect(failure).to.be.instanceOf(MigrationError);
    const tables = await query(databaseUrl, "SELECT to_regclass('half_done') IS NULL AS missing");
    expect(tables).to.deep.equal([{ missing: true }]);
    const rows = await query(databaseUrl, "SELECT migration_name FROM _prisma_migrations");
    expect(rows).to.deep.equal([]);
  });

  it("applyMigrations warns about a migration file changed after it was applied", async () => {
    const [first] = await readMigrations();
    if (first === undefined) throw new Error("no migrations found");
    await applyMigrations(databaseUrl, logger, [first]);

    await applyMigrations(databaseUrl, logger, [{ ...first, checksum: "f".repeat(64) }]);

    const warnings = logs.find(
      "migration file changed after it was applied; the database keeps the applied version",
    );
    expect(warnings.map((line) => line.migration)).to.deep.equal([first.name]);
  });

  it("creates the schema that the generated Prisma client expects", async () => {
    await applyMigrations(databaseUrl, logger);
    const prisma = new PrismaClient({ adapter: new PrismaPg({ connectionString: databaseUrl }) });
    try {
      const created = await prisma.event.create({
        data: {
          eventUid: "01939b6c-0000-7000-8000-000000000001",
          eventTimestamp: new Date("2026-12-04T15:27:47.203Z"),
          solution: "ecommerce",
          model: "order",
          action: "create",
          eventData: { order_id: 1 },
          status: "failed",
          publishAttempts: 2,
          publishedAt: null,
          lastError: "BROKER_UNAVAILABLE: test",
        },
      });

      const found = await prisma.event.findUnique({ where: { eventUid: created.eventUid } });

      expect(found).to.deep.equal(created);
      expect(found?.updatedAt).to.be.instanceOf(Date);
    } finally {
      await prisma.$disconnect();
    }
  });
});
