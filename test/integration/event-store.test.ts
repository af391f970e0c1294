import { expect } from "chai";

import { createLogger } from "../../src/logger.js";
import { createPool, createPrismaClient } from "../../src/persistence/database.js";
import { EventStore } from "../../src/persistence/event-store.js";
import { uniqueRoute } from "../support/broker.js";
import { DatabaseProbe } from "../support/database.js";
import { testConfig } from "../support/environment.js";
import { LogCapture } from "../support/logs.js";

describe("EventStore", () => {
  const config = testConfig();
  const pool = createPool(config, createLogger("debug", new LogCapture()));
  const store = new EventStore(createPrismaClient(pool));
  const database = new DatabaseProbe();

  after(async () => {
    await pool.end();
    await database.close();
  });

  it("markPublishedMany adds the attempts of one event listed twice", async () => {
    const uid = await database.insertEvent(uniqueRoute(), { n: 1 }, "pending");

    await store.markPublishedMany([
      { uid, attempts: 2 },
      { uid, attempts: 1 },
    ]);

    const row = await database.row(uid);
    expect(row?.status).to.equal("published");
    expect(row?.publish_attempts).to.equal(3);
  });

  it("markFailed adds its attempts to the count", async () => {
    const uid = await database.insertEvent(uniqueRoute(), { n: 1 }, "pending");
    await database.pool.query("UPDATE events SET publish_attempts = 2 WHERE event_uid = $1", [uid]);

    await store.markFailed(uid, "BROKER_UNAVAILABLE: test", 3);

    const row = await database.row(uid);
    expect(row?.status).to.equal("failed");
    expect(row?.publish_attempts).to.equal(5);
  });
});
