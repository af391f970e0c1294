import { expect } from "chai";

import { uniqueRoute } from "../support/broker.js";
import { DatabaseProbe } from "../support/database.js";
import { startTestService, type TestService } from "../support/service.js";

const HOUR_MS = 3_600_000;

describe("the sweep", () => {
  let database: DatabaseProbe;
  let service: TestService | undefined;

  before(() => {
    database = new DatabaseProbe();
  });

  afterEach(async () => {
    await service?.close();
    service = undefined;
  });

  after(async () => {
    await database?.close();
  });

  it("marks pending events older than the timeout failed, and only those", async () => {
    service = await startTestService({ PENDING_TIMEOUT_MS: "60000", SWEEP_INTERVAL_MS: "3600000" });
    const route = uniqueRoute();
    const stale = await database.insertEvent(
      route,
      { n: 1 },
      "pending",
      new Date(Date.now() - HOUR_MS),
    );
    const fresh = await database.insertEvent(route, { n: 2 }, "pending");
    const oldPublished = await database.insertEvent(route, { n: 3 }, "published", new Date(0));

    const result = await service.sweeper.sweep();

    expect(result.failedEventUids).to.include(stale);
    expect(result.failedEventUids).not.to.include(fresh);
    const staleRow = await database.row(stale);
    expect(staleRow?.status).to.equal("failed");
    expect(staleRow?.last_error).to.match(/^ABANDONED: still pending after 60000 ms/);
    expect((await database.row(fresh))?.status).to.equal("pending");
    expect((await database.row(oldPublished))?.status).to.equal("published");
  });

  it("runs when the service starts", async () => {
    const route = uniqueRoute();
    const stale = await database.insertEvent(
      route,
      { n: 1 },
      "pending",
      new Date(Date.now() - HOUR_MS),
    );

    service = await startTestService({ PENDING_TIMEOUT_MS: "60000" });

    for (let waited = 0; waited < 5000; waited += 100) {
      if ((await database.row(stale))?.status === "failed") break;
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    expect((await database.row(stale))?.status).to.equal("failed");
    const logged = service.logs.find("marked abandoned pending events failed");
    expect(logged.flatMap((line) => line.eventUids as string[])).to.include(stale);
  });
});
