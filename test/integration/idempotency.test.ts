import { request } from "node:http";
import { setTimeout as sleep } from "node:timers/promises";

import { expect } from "chai";

import type { EventRoute } from "../../src/events/event.js";
import { routeQueue, uniqueRoute } from "../support/broker.js";
import { TEST_RABBITMQ_URL } from "../support/environment.js";
import { eventPath, postEvent, send } from "../support/http.js";
import { startTestService, type TestService, useTestService } from "../support/service.js";
import { proxyFor, type TcpProxy } from "../support/tcp-proxy.js";

type Body = Record<string, string>;

function keyed(key: string) {
  return { headers: { "idempotency-key": key } };
}

function uniqueKey(): string {
  return `key-${Math.random().toString(36).slice(2)}`;
}

describe("Idempotency-Key", () => {
  const fixture = useTestService();

  async function keyRows(key: string) {
    const result = await fixture.database.pool.query(
      "SELECT key, request_hash, event_uid FROM idempotency_keys WHERE key = $1",
      [key],
    );
    return result.rows;
  }

  it("answers a repeated request with the stored event and publishes once", async () => {
    const route = uniqueRoute();
    const key = uniqueKey();

    const first = await postEvent(fixture.service.url, route, { order_id: 1 }, keyed(key));
    const second = await postEvent(fixture.service.url, route, { order_id: 1 }, keyed(key));

    expect(first.status).to.equal(200);
    expect(second.status).to.equal(200);
    expect(second.body).to.deep.equal(first.body);
    expect(await fixture.database.rowsFor(route)).to.have.length(1);
    expect(await fixture.broker.drain(routeQueue(route))).to.have.length(1);
    const [stored] = await keyRows(key);
    expect(stored?.event_uid).to.equal((first.body as Body).event_uid);
    expect(stored?.request_hash).to.match(/^[0-9a-f]{64}$/);
  });

  it("treats bodies that differ only in whitespace as the same request", async () => {
    const route = uniqueRoute();
    const key = uniqueKey();
    const headers = { "content-type": "application/json", "idempotency-key": key };

    const first = await send(fixture.service.url, "POST", eventPath(route), {
      body: '{"a": [1, 2]}',
      headers,
    });
    const second = await send(fixture.service.url, "POST", eventPath(route), {
      body: '{"a":[1,2]}',
      headers,
    });

    expect(second.status).to.equal(200);
    expect((second.body as Body).event_uid).to.equal((first.body as Body).event_uid);
  });

  for (const [what, change] of [
    ["another body", (route: EventRoute) => ({ route, data: { order_id: 2 } })],
    [
      "another path",
      (route: EventRoute) => ({ route: { ...route, action: "cancel" }, data: { order_id: 1 } }),
    ],
  ] as const) {
    it(`rejects the key with ${what} with 422 and stores nothing`, async () => {
      const route = uniqueRoute();
      const key = uniqueKey();
      await postEvent(fixture.service.url, route, { order_id: 1 }, keyed(key));
      const other = change(route);

      const response = await postEvent(fixture.service.url, other.route, other.data, keyed(key));

      expect(response.status).to.equal(422);
      expect(response.body).to.deep.equal({
        status: "error",
        code: "IDEMPOTENCY_KEY_REUSED",
        message: `Idempotency-Key "${key}" was first used with a different path or body. Nothing was stored. Use a new key for a different event.`,
      });
      expect(await fixture.database.rowsFor(route)).to.have.length(1);
      expect(await fixture.database.rowsFor({ ...route, action: "cancel" })).to.have.length(0);
      expect(await keyRows(key)).to.have.length(1);
    });
  }

  for (const [what, key] of [
    ["256 characters", "k".repeat(256)],
    ["a control character", "a\tb"],
    ["non-ASCII characters", "clé"],
  ] as const) {
    it(`rejects a key of ${what} with 400`, async () => {
      const route = uniqueRoute();

      const response = await fetch(new URL(eventPath(route), fixture.service.url), {
        method: "POST",
        headers: {
          "content-type": "application/json",
          "idempotency-key": Buffer.from(key).toString("latin1"),
        },
        body: '{"a":1}',
      });

      expect(response.status).to.equal(400);
      expect(await response.json()).to.deep.equal({
        status: "error",
        code: "INVALID_PARAMETER",
        message: "A query parameter or header is invalid.",
        errors: [
          {
            path: "/header/idempotency-key",
            message: "must be 1 to 255 printable ASCII characters",
          },
        ],
      });
      expect(await fixture.database.rowsFor(route)).to.have.length(0);
    });
  }

  it("rejects the header sent twice", async () => {
    const route = uniqueRoute();
    const url = new URL(eventPath(route), fixture.service.url);
    const body = '{"order_id":1}';

    const response = await new Promise<{ status: number; body: unknown }>((resolve, reject) => {
      const outgoing = request(url, {
        method: "POST",
        headers: {
          "content-type": "application/json",
          "content-length": Buffer.byteLength(body),
          "idempotency-key": ["first", "second"],
        },
      });
      outgoing.on("response", async (incoming) => {
        const chunks: Buffer[] = [];
        for await (const chunk of incoming) chunks.push(chunk as Buffer);
        resolve({
          status: incoming.statusCode ?? 0,
          body: JSON.parse(Buffer.concat(chunks).toString()),
        });
      });
      outgoing.on("error", reject);
      outgoing.end(body);
    });

    expect(response.status).to.equal(400);
    expect(response.body).to.deep.equal({
      status: "error",
      code: "INVALID_PARAMETER",
      message: "Send the Idempotency-Key header once.",
      errors: [{ path: "/header/idempotency-key", message: "must appear only once" }],
    });
    expect(await fixture.database.rowsFor(route)).to.deep.equal([]);
  });

  it("stores one event when many requests with one key arrive at once", async () => {
    const route = uniqueRoute();
    const key = uniqueKey();

    const responses = await Promise.all(
      Array.from({ length: 10 }, () =>
        postEvent(fixture.service.url, route, { order_id: 1 }, keyed(key)),
      ),
    );

    const uids = new Set(
      responses
        .filter((response) => response.status === 200)
        .map((r) => (r.body as Body).event_uid),
    );
    expect(uids.size).to.equal(1);
    for (const response of responses) {
      expect(response.status).to.be.oneOf([200, 409]);
    }
    expect(await fixture.database.rowsFor(route)).to.have.length(1);
    expect(await fixture.broker.drain(routeQueue(route))).to.have.length(1);
  });

  it("forgets keys older than the retention", async () => {
    const route = uniqueRoute();
    const key = uniqueKey();
    const first = await postEvent(fixture.service.url, route, { order_id: 1 }, keyed(key));

    await fixture.service.sweeper.sweep(Date.now() + 25 * 3_600_000);
    const second = await postEvent(fixture.service.url, route, { order_id: 1 }, keyed(key));

    expect(second.status).to.equal(200);
    expect((second.body as Body).event_uid).not.to.equal((first.body as Body).event_uid);
    expect(await fixture.database.rowsFor(route)).to.have.length(2);
  });

  describe("with the broker unreachable", () => {
    let proxy: TcpProxy;
    let unreachable: TestService;

    before(async () => {
      let url: string;
      ({ proxy, url } = await proxyFor(TEST_RABBITMQ_URL, 5672));
      unreachable = await startTestService({
        RABBITMQ_URL: url,
        PUBLISH_DEADLINE_MS: "1500",
        RABBITMQ_RECONNECT_MAX_MS: "200",
      });
    });

    afterEach(() => proxy.restore());

    after(async () => {
      await unreachable?.close();
      await proxy?.close();
    });

    it("publishes a failed event when the client retries with its key", async () => {
      const route = uniqueRoute();
      const key = uniqueKey();
      proxy.refuse();

      const failed = await postEvent(unreachable.url, route, { order_id: 1 }, keyed(key));
      expect(failed.status).to.equal(500);
      expect((failed.body as Body).code).to.equal("BROKER_UNAVAILABLE");

      proxy.restore();
      await sleep(500);
      const retried = await postEvent(unreachable.url, route, { order_id: 1 }, keyed(key));

      expect(retried.status).to.equal(200);
      const body = retried.body as Body;
      expect(body.event_uid).to.equal((failed.body as Body).event_uid);
      expect(body.event_timestamp).to.equal((failed.body as Body).event_timestamp);
      const messages = await fixture.broker.drain(routeQueue(route));
      expect(messages.map((message) => message.body)).to.deep.equal([
        {
          event_uid: body.event_uid,
          event_timestamp: body.event_timestamp,
          event_data: { order_id: 1 },
        },
      ]);
      const [row] = await fixture.database.rowsFor(route);
      expect(row?.status).to.equal("published");
      expect(row?.publish_attempts).to.be.at.least(2);
    });

    it("answers 409 with Retry-After while the first request is in progress", async () => {
      const route = uniqueRoute();
      const key = uniqueKey();
      proxy.refuse();

      const first = postEvent(unreachable.url, route, { order_id: 1 }, keyed(key));
      await sleep(300);
      const second = await postEvent(unreachable.url, route, { order_id: 1 }, keyed(key));

      expect(second.status).to.equal(409);
      expect(second.headers.get("retry-after")).to.equal("1");
      expect((second.body as Body).code).to.equal("IDEMPOTENCY_KEY_IN_USE");
      expect((await first).status).to.equal(500);
      expect(await fixture.database.rowsFor(route)).to.have.length(1);
    });
  });
});
