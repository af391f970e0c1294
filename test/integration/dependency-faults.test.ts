import { expect } from "chai";
import { routeQueue, startBroker, stopBroker, uniqueRoute } from "../support/broker.js";
import { cutDatabase } from "../support/database.js";
import { postEvent, send } from "../support/http.js";
import { type TestService, useTestService } from "../support/service.js";

/** Default PUBLISH_DEADLINE_MS, plus the time to store the event and record the failure. */
const BROKER_FAILURE_BUDGET_MS = 3000 + 1000;

async function postUntilAccepted(service: TestService, withinMs: number) {
  const route = uniqueRoute();
  const started = Date.now();
  for (;;) {
    const response = await postEvent(service.url, route, { retry: true });
    if (response.status === 200 || Date.now() - started > withinMs) {
      return { response, route, elapsedMs: Date.now() - started };
    }
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
}

describe("dependency faults", () => {
  const fixture = useTestService();

  describe("when PostgreSQL refuses connections", () => {
    let restore: (() => Promise<void>) | undefined;

    afterEach(async () => {
      await restore?.();
      restore = undefined;
    });

    it("returns 500 DATABASE_UNAVAILABLE, publishes nothing, and recovers", async () => {
      const route = uniqueRoute();
      restore = await cutDatabase();

      const failed = await postEvent(fixture.service.url, route, { n: 1 });

      expect(failed.status).to.equal(500);
      expect(failed.body).to.deep.equal({
        status: "error",
        code: "DATABASE_UNAVAILABLE",
        message: "The database failed while storing the event. Nothing was published; retry later.",
      });
      expect(await fixture.broker.count(routeQueue(route))).to.equal(undefined);

      await restore();
      restore = undefined;
      const accepted = await postEvent(fixture.service.url, route, { n: 2 });

      expect(accepted.status).to.equal(200);
      const rows = await fixture.database.rowsFor(route);
      expect(rows.map((row) => row.event_data)).to.deep.equal([{ n: 2 }]);
      const messages = await fixture.broker.drain(routeQueue(route));
      expect(messages.map((message) => message.body)).to.have.length(1);
    });
  });

  describe("when RabbitMQ is stopped", () => {
    let stopped = false;

    afterEach(async () => {
      if (stopped) await startBroker();
      stopped = false;
    });

    it("returns 500 within the deadline, keeps the event as failed, and recovers", async () => {
      const route = uniqueRoute();
      await postEvent(fixture.service.url, route, { warm: true });
      await fixture.broker.drain(routeQueue(route));
      await stopBroker();
      stopped = true;

      const started = Date.now();
      const failed = await postEvent(fixture.service.url, route, { n: 1 });
      const elapsedMs = Date.now() - started;

      expect(failed.status).to.equal(500);
      expect(elapsedMs).to.be.below(BROKER_FAILURE_BUDGET_MS);
      const body = failed.body as Record<string, string>;
      expect(body.code).to.equal("BROKER_UNAVAILABLE");
      const row = await fixture.database.row(body.event_uid as string);
      expect(row?.status).to.equal("failed");
      expect(row?.last_error).to.match(/^BROKER_UNAVAILABLE: /);
      expect(row?.event_timestamp.toISOString()).to.equal(body.event_timestamp);

      const readiness = await send(fixture.service.url, "GET", "/readyz");
      expect(readiness.status).to.equal(503);
      expect(readiness.body).to.deep.equal({
        status: "not_ready",
        checks: { database: "up", broker: "down" },
      });
      expect((await send(fixture.service.url, "GET", "/healthz")).status).to.equal(200);

      await startBroker();
      stopped = false;
      const recovered = await postUntilAccepted(fixture.service, 15_000);

      expect(recovered.response.status).to.equal(200);
      const messages = await fixture.broker.drain(routeQueue(route));
      expect(messages.map((message) => message.messageId)).not.to.include(body.event_uid);
      expect(await fixture.broker.drain(routeQueue(recovered.route))).to.have.length(1);
      expect(fixture.service.logs.find("broker connection lost; reconnecting")).to.have.length(1);
      expect(fixture.service.logs.find("broker connection restored")).to.have.length(1);
    });
  });

  describe("when the queue changes behind the service's back", () => {
    it("declares a deleted queue again and delivers the message", async () => {
      const route = uniqueRoute();
      const queue = routeQueue(route);
      expect((await postEvent(fixture.service.url, route, { n: 1 })).status).to.equal(200);
      await fixture.broker.deleteQueue(queue);

      const response = await postEvent(fixture.service.url, route, { n: 2 });

      expect(response.status).to.equal(200);
      const messages = await fixture.broker.drain(queue);
      expect(messages.map((message) => message.body)).to.deep.equal([
        {
          event_uid: (response.body as Record<string, string>).event_uid,
          event_timestamp: (response.body as Record<string, string>).event_timestamp,
          event_data: { n: 2 },
        },
      ]);
      const declared = fixture.service.logs
        .find("queue declared")
        .filter((line) => line.queue === queue);
      expect(declared).to.have.length(2);
    });

    for (const [kind, args] of [
      ["a message TTL", { "x-message-ttl": 60_000 }],
      ["the quorum type", { "x-queue-type": "quorum" }],
    ] as const) {
      it(`publishes to a queue an operator declared with ${kind}`, async () => {
        const route = uniqueRoute();
        const queue = routeQueue(route);
        await fixture.broker.declareQueue(queue, { durable: true, arguments: args });

        const first = await postEvent(fixture.service.url, route, { n: 1 });
        const second = await postEvent(fixture.service.url, route, { n: 2 });

        expect(first.status).to.equal(200);
        expect(second.status).to.equal(200);
        const messages = await fixture.broker.drain(queue);
        expect(messages.map((message) => message.body)).to.have.length(2);
      });
    }
  });
});
