import { expect } from "chai";

import { routeQueue, uniqueRoute } from "../support/broker.js";
import { cutDatabase } from "../support/database.js";
import { TEST_RABBITMQ_URL } from "../support/environment.js";
import { eventPath, send } from "../support/http.js";
import { startTestService, type TestService, useTestService } from "../support/service.js";
import { proxyFor, type TcpProxy } from "../support/tcp-proxy.js";

interface BatchEvent {
  event_uid: string;
  event_timestamp: string;
  status: string;
  code?: string;
}

function batchPath(route: ReturnType<typeof uniqueRoute>): string {
  return `${eventPath(route)}/batch`;
}

const JSON_TYPE = { "content-type": "application/json" };

describe("POST /api/event/{solution}/{model}/{action}/batch", () => {
  const fixture = useTestService({ BATCH_MAX_EVENTS: "100" });

  it("stores and publishes every event, in the order of the request", async () => {
    const route = uniqueRoute();
    const items = Array.from({ length: 100 }, (_, index) => ({ order_id: index }));

    const response = await send(fixture.service.url, "POST", batchPath(route), { body: items });

    expect(response.status).to.equal(200);
    const body = response.body as { status: string; message: string; events: BatchEvent[] };
    expect(body.status).to.equal("success");
    expect(body.message).to.equal(`100 events published to queue ${routeQueue(route)}`);
    expect(body.events.map((event) => event.status)).to.deep.equal(items.map(() => "published"));
    expect(new Set(body.events.map((event) => event.event_uid)).size).to.equal(100);
    const messages = await fixture.broker.drain(routeQueue(route));
    expect(messages.map((message) => message.body)).to.deep.equal(
      body.events.map((event, index) => ({
        event_uid: event.event_uid,
        event_timestamp: event.event_timestamp,
        event_data: items[index],
      })),
    );
    const rows = await fixture.database.rowsFor(route);
    expect(rows).to.have.length(100);
    expect(rows.every((row) => row.status === "published")).to.equal(true);
  });

  it("keeps every digit of each element's numbers", async () => {
    const route = uniqueRoute();
    const text = '[{"big": 123456789012345678901234567890}, {"small": 1.000000000000000000001}]';

    const response = await send(fixture.service.url, "POST", batchPath(route), {
      body: text,
      headers: JSON_TYPE,
    });

    expect(response.status).to.equal(200);
    const texts = (await fixture.broker.drain(routeQueue(route))).map((message) => message.text);
    expect(texts[0]).to.match(/"event_data":\{"big":123456789012345678901234567890\}\}$/);
    expect(texts[1]).to.match(/"event_data":\{"small":1\.000000000000000000001\}\}$/);
  });

  it("rejects a batch with invalid elements, listing each, and stores nothing", async () => {
    const route = uniqueRoute();
    const text = '[{"a": 1}, [], {}, {"n": "\\u0000"}, {"d": 1, "d": 2}, 7]';

    const response = await send(fixture.service.url, "POST", batchPath(route), {
      body: text,
      headers: JSON_TYPE,
    });

    expect(response.status).to.equal(400);
    expect(response.body).to.deep.equal({
      status: "error",
      code: "INVALID_BODY",
      message:
        "The request body must be a non-empty JSON array of JSON objects with at least one property each; nothing was stored.",
      errors: [
        { path: "/body/1", message: "must be object" },
        { path: "/body/2", message: "must NOT have fewer than 1 properties" },
        { path: "/body/5", message: "must be object" },
      ],
    });
    expect(await fixture.database.rowsFor(route)).to.deep.equal([]);
  });

  it("rejects values that cannot be stored, listing each element, and stores nothing", async () => {
    const route = uniqueRoute();
    const text = '[{"a": 1}, {"n": "\\u0000"}, {"d": 1, "d": 2}]';

    const response = await send(fixture.service.url, "POST", batchPath(route), {
      body: text,
      headers: JSON_TYPE,
    });

    expect(response.status).to.equal(400);
    expect(response.body).to.deep.equal({
      status: "error",
      code: "INVALID_BODY",
      message: "Events of the batch contain values that cannot be stored; nothing was stored.",
      errors: [
        { path: "/body/1/n", message: "contains U+0000, which PostgreSQL cannot store" },
        { path: "/body/2", message: "has duplicate keys" },
      ],
    });
    expect(await fixture.database.rowsFor(route)).to.deep.equal([]);
  });

  it("names the element whose number PostgreSQL cannot store", async () => {
    const route = uniqueRoute();

    const response = await send(fixture.service.url, "POST", batchPath(route), {
      body: '[{"a": 1}, {"a": 1e-20000}]',
      headers: JSON_TYPE,
    });

    expect(response.status).to.equal(400);
    expect((response.body as { code: string }).code).to.equal("INVALID_BODY");
    const errors = (response.body as { errors: { path: string }[] }).errors;
    expect(errors.map((error) => error.path)).to.deep.equal(["/body/1"]);
    expect(await fixture.database.rowsFor(route)).to.deep.equal([]);
    expect(await fixture.broker.count(routeQueue(route))).to.equal(undefined);
  });

  it("answers 413 for more events than BATCH_MAX_EVENTS", async () => {
    const route = uniqueRoute();
    const items = Array.from({ length: 101 }, (_, index) => ({ index }));

    const response = await send(fixture.service.url, "POST", batchPath(route), { body: items });

    expect(response.status).to.equal(413);
    expect(response.body).to.deep.equal({
      status: "error",
      code: "PAYLOAD_TOO_LARGE",
      message: "The batch has 101 events; the limit is 100. Split it.",
    });
    expect(await fixture.database.rowsFor(route)).to.deep.equal([]);
  });

  it("answers 413 before validating a huge batch of invalid elements", async () => {
    const route = uniqueRoute();
    const text = `[${Array.from({ length: 250_000 }, () => "{}").join(",")}]`;

    const response = await send(fixture.service.url, "POST", batchPath(route), {
      body: text,
      headers: JSON_TYPE,
    });

    expect(response.status).to.equal(413);
    expect((response.body as { code: string }).code).to.equal("PAYLOAD_TOO_LARGE");
  });

  it("rejects an Idempotency-Key, which the batch route does not support", async () => {
    const route = uniqueRoute();

    const response = await send(fixture.service.url, "POST", batchPath(route), {
      body: [{ a: 1 }],
      headers: { "idempotency-key": "batch-1" },
    });

    expect(response.status).to.equal(400);
    expect(response.body).to.deep.equal({
      status: "error",
      code: "INVALID_PARAMETER",
      message:
        "Idempotency-Key is not supported on the batch route. Send keyed events one at a time.",
      errors: [{ path: "/header/idempotency-key", message: "is not supported on this route" }],
    });
    expect(await fixture.database.rowsFor(route)).to.deep.equal([]);
  });

  it("answers 500 and publishes nothing when PostgreSQL refuses connections", async () => {
    const route = uniqueRoute();
    const restore = await cutDatabase();
    try {
      const response = await send(fixture.service.url, "POST", batchPath(route), {
        body: [{ a: 1 }, { a: 2 }],
      });

      expect(response.status).to.equal(500);
      expect((response.body as { code: string }).code).to.equal("DATABASE_UNAVAILABLE");
    } finally {
      await restore();
    }
    expect(await fixture.broker.count(routeQueue(route))).to.equal(undefined);
  });

  describe("with the broker unreachable", () => {
    let proxy: TcpProxy;
    let unreachable: TestService;

    before(async () => {
      let url: string;
      ({ proxy, url } = await proxyFor(TEST_RABBITMQ_URL, 5672));
      unreachable = await startTestService({
        RABBITMQ_URL: url,
        PUBLISH_DEADLINE_MS: "500",
      });
    });

    after(async () => {
      await unreachable?.close();
      await proxy?.close();
    });

    it("answers 500 with each element's status and keeps them as failed", async () => {
      const route = uniqueRoute();
      proxy.refuse();

      const response = await send(unreachable.url, "POST", batchPath(route), {
        body: [{ a: 1 }, { a: 2 }],
      });

      expect(response.status).to.equal(500);
      const body = response.body as { code: string; message: string; events: BatchEvent[] };
      expect(body.code).to.equal("BROKER_UNAVAILABLE");
      expect(body.message).to.equal(
        "2 of 2 events were stored but not published, and are recorded with status failed; `events` gives each one's outcome. Retry the failed ones later.",
      );
      expect(body.events.map((event) => [event.status, event.code])).to.deep.equal([
        ["failed", "BROKER_UNAVAILABLE"],
        ["failed", "BROKER_UNAVAILABLE"],
      ]);
      const rows = await fixture.database.rowsFor(route);
      expect(rows.map((row) => row.status)).to.deep.equal(["failed", "failed"]);
      proxy.restore();
    });
  });
});
