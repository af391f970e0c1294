import { randomBytes } from "node:crypto";

import { expect } from "chai";
import pg from "pg";

import { readMigrations } from "../../src/persistence/migrate.js";
import { BrokerProbe, routeQueue, uniqueRoute } from "../support/broker.js";
import { dropDatabase, scratchDatabaseUrl } from "../support/database.js";
import { postEvent } from "../support/http.js";
import { startTestService, type TestService } from "../support/service.js";

const HOUR_MS = 3_600_000;

describe("two instances on one database and one broker", () => {
  const databaseUrl = scratchDatabaseUrl("events_two");
  let first: TestService;
  let second: TestService;
  let pool: pg.Pool;
  let broker: BrokerProbe;

  before(async () => {
    const env = { DATABASE_URL: databaseUrl, SWEEP_INTERVAL_MS: String(HOUR_MS) };
    [first, second] = await Promise.all([startTestService(env), startTestService(env)]);
    pool = new pg.Pool({ connectionString: databaseUrl, max: 2 });
    broker = new BrokerProbe();
  });

  after(async () => {
    await first?.close();
    await second?.close();
    await pool?.end();
    await broker?.close();
    await dropDatabase(databaseUrl);
  });

  it("apply each migration once when they start together", async () => {
    const migrations = await readMigrations();

    const applied = [
      ...first.logs.find("migration applied"),
      ...second.logs.find("migration applied"),
    ];

    expect(applied.map((line) => line.migration).sort()).to.deep.equal(
      migrations.map((migration) => migration.name),
    );
    const rows = await pool.query("SELECT migration_name FROM _prisma_migrations");
    expect(rows.rowCount).to.equal(migrations.length);
  });

  it("never sweep the same event twice", async () => {
    const stale = new Date(Date.now() - HOUR_MS);
    const inserted = await pool.query<{ event_uid: string }>(
      `INSERT INTO events (event_uid, event_timestamp, solution, model, action, event_data, status, updated_at)
       SELECT gen_random_uuid(), now(), 'test-sweep', 'order', 'create', '{"n": 1}', 'pending', $1
       FROM generate_series(1, 3000)
       RETURNING event_uid`,
      [stale],
    );

    const [fromFirst, fromSecond] = await Promise.all([
      first.sweeper.sweep(),
      second.sweeper.sweep(),
    ]);

    const swept = [...fromFirst.failedEventUids, ...fromSecond.failedEventUids];
    expect(swept).to.have.length(inserted.rowCount ?? 0);
    expect(new Set(swept).size).to.equal(swept.length);
    const pending = await pool.query("SELECT 1 FROM events WHERE status = 'pending'");
    expect(pending.rowCount).to.equal(0);
  });

  it("store one event for an Idempotency-Key sent to both at once", async () => {
    for (let attempt = 0; attempt < 10; attempt++) {
      const route = uniqueRoute();
      const headers = { "idempotency-key": `both-${randomBytes(6).toString("hex")}` };

      const responses = await Promise.all(
        [first, second].map((service) => postEvent(service.url, route, { attempt }, { headers })),
      );

      const statuses = responses.map((response) => response.status);
      expect(statuses).to.include(200);
      for (const status of statuses) expect(status).to.be.oneOf([200, 409]);
      const uids = new Set(
        responses
          .filter((r) => r.status === 200)
          .map((r) => (r.body as Record<string, string>).event_uid),
      );
      expect(uids.size).to.equal(1);
      const rows = await pool.query("SELECT 1 FROM events WHERE solution = $1", [route.solution]);
      expect(rows.rowCount).to.equal(1);
      expect(await broker.drain(routeQueue(route))).to.have.length(1);
    }
  });
});
