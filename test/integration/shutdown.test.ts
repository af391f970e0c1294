import { setTimeout as sleep } from "node:timers/promises";

import { expect } from "chai";

import { uniqueRoute } from "../support/broker.js";
import { DatabaseProbe } from "../support/database.js";
import { TEST_RABBITMQ_URL } from "../support/environment.js";
import { eventPath } from "../support/http.js";
import { startTestService } from "../support/service.js";
import { proxyFor, type TcpProxy } from "../support/tcp-proxy.js";

describe("service.close()", () => {
  let proxy: TcpProxy;
  let brokerUrl: string;
  let database: DatabaseProbe;

  beforeEach(async () => {
    ({ proxy, url: brokerUrl } = await proxyFor(TEST_RABBITMQ_URL, 5672));
    database = new DatabaseProbe();
  });

  afterEach(async () => {
    await proxy.close();
    await database.close();
  });

  it("waits for an ingestion whose client has gone", async () => {
    const service = await startTestService({
      RABBITMQ_URL: brokerUrl,
      PUBLISH_DEADLINE_MS: "1500",
    });
    const route = uniqueRoute();
    proxy.refuse();
    const abandoned = new AbortController();
    const request = fetch(new URL(eventPath(route), service.url), {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: '{"order_id":1}',
      signal: abandoned.signal,
    }).catch(() => undefined);
    await sleep(300);
    abandoned.abort();
    await request;

    await service.close();

    const rows = await database.rowsFor(route);
    expect(rows.map((row) => row.status)).to.deep.equal(["failed"]);
  });

  it("ends within the shutdown timeout when the broker stops answering", async () => {
    const service = await startTestService({
      RABBITMQ_URL: brokerUrl,
      SHUTDOWN_TIMEOUT_MS: "1000",
      RABBITMQ_HEARTBEAT_SECONDS: "0",
    });
    proxy.blackhole();

    const started = Date.now();
    await service.close();

    expect(Date.now() - started).to.be.below(2500);
    expect(
      service.logs.find("broker connection did not close before the shutdown timeout; dropping it"),
    ).to.have.length(1);
  });
});
