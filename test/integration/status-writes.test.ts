import { setTimeout as sleep } from "node:timers/promises";

import { expect } from "chai";
import sinon from "sinon";

import { EventStore } from "../../src/persistence/event-store.js";
import { routeQueue, uniqueRoute } from "../support/broker.js";
import { postEvent } from "../support/http.js";
import { useTestService } from "../support/service.js";

describe("the published status write", () => {
  const fixture = useTestService();

  afterEach(() => sinon.restore());

  // Failing exactly this write, after the insert and the confirm succeeded, is hard to
  // cause with a real fixture.database, so sinon fakes the fault.
  it("retries a failed write and returns 200", async () => {
    const markPublishedMany = sinon.stub(EventStore.prototype, "markPublishedMany");
    markPublishedMany.onFirstCall().rejects(new Error("Connection terminated unexpectedly"));
    markPublishedMany.callThrough();
    const route = uniqueRoute();

    const response = await postEvent(fixture.service.url, route, { order_id: 1 });

    expect(response.status).to.equal(200);
    const uid = (response.body as Record<string, string>).event_uid as string;
    let status = (await fixture.database.row(uid))?.status;
    for (let waited = 0; status !== "published" && waited < 5000; waited += 100) {
      await sleep(100);
      status = (await fixture.database.row(uid))?.status;
    }
    expect(status).to.equal("published");
    expect(await fixture.broker.drain(routeQueue(route))).to.have.length(1);
    expect(fixture.service.logs.find("could not mark event published; retrying")).to.have.length(1);
    const recovered = fixture.service.logs.find(
      "events marked published after retrying the status write",
    );
    expect(recovered.map((line) => line.count)).to.deep.equal([1]);
  });
});
