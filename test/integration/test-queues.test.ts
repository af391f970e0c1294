import { expect } from "chai";

import {
  BrokerProbe,
  deleteUniqueRouteQueues,
  routeQueue,
  uniqueRoute,
} from "../support/broker.js";

describe("deleteUniqueRouteQueues", () => {
  let broker: BrokerProbe;

  before(() => {
    broker = new BrokerProbe();
  });

  after(async () => {
    await broker?.close();
  });

  it("deleteUniqueRouteQueues deletes queues of unique routes", async () => {
    const queues = [routeQueue(uniqueRoute()), routeQueue(uniqueRoute())];
    for (const queue of queues) await broker.declareQueue(queue, { durable: true });

    await deleteUniqueRouteQueues();

    for (const queue of queues) expect(await broker.count(queue), queue).to.equal(undefined);
  });

  it("deleteUniqueRouteQueues skips queues that do not exist", async () => {
    const missing = routeQueue(uniqueRoute());

    await deleteUniqueRouteQueues();

    expect(await broker.count(missing)).to.equal(undefined);
  });
});
