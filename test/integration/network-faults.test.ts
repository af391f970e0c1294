import { execFile } from "node:child_process";
import { setTimeout as sleep } from "node:timers/promises";
import { promisify } from "node:util";

import { expect } from "chai";

import type { EventRoute } from "../../src/events/event.js";
import { BrokerProbe, routeQueue, uniqueRoute } from "../support/broker.js";
import { DatabaseProbe } from "../support/database.js";
import { TEST_DATABASE_URL, TEST_RABBITMQ_URL } from "../support/environment.js";
import { startTestService, type TestService } from "../support/service.js";
import { proxyFor, type TcpProxy } from "../support/tcp-proxy.js";

const execFileAsync = promisify(execFile);
const PUBLISH_DEADLINE_MS = 2000;
/** Time a request may take beyond its deadline: storing the event and recording the outcome. */
const MARGIN_MS = 1500;

interface Outcome {
  readonly status: number;
  readonly code: string | undefined;
  readonly eventUid: string | undefined;
  readonly elapsedMs: number;
}

async function post(service: TestService, route: EventRoute, data: unknown): Promise<Outcome> {
  const started = Date.now();
  const response = await fetch(
    new URL(`/api/event/${route.solution}/${route.model}/${route.action}`, service.url),
    { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(data) },
  );
  const body = (await response.json()) as { code?: string; event_uid?: string };
  return {
    status: response.status,
    code: body.code,
    eventUid: body.event_uid,
    elapsedMs: Date.now() - started,
  };
}

/** Sends `count` events from `concurrency` clients; calls `midway` after half of them. */
async function load(
  service: TestService,
  route: EventRoute,
  count: number,
  concurrency: number,
  midway: () => void = () => {},
): Promise<Outcome[]> {
  const outcomes: Outcome[] = [];
  let next = 0;
  const client = async () => {
    while (next < count) {
      const sequence = next++;
      if (sequence === Math.floor(count / 2)) midway();
      outcomes.push(await post(service, route, { sequence }));
    }
  };
  await Promise.all(Array.from({ length: concurrency }, client));
  return outcomes;
}

/** Posts until a request succeeds; returns the time that took. */
async function timeToRecovery(service: TestService, route: EventRoute, limitMs: number) {
  const started = Date.now();
  while (Date.now() - started < limitMs) {
    if ((await post(service, route, { probe: true })).status === 200) return Date.now() - started;
    await sleep(200);
  }
  return Number.POSITIVE_INFINITY;
}

describe("network faults", () => {
  let brokerProxy: TcpProxy;
  let databaseProxy: TcpProxy;
  let service: TestService;
  let broker: BrokerProbe;
  let database: DatabaseProbe;

  before(async () => {
    const toBroker = await proxyFor(TEST_RABBITMQ_URL, 5672);
    const toDatabase = await proxyFor(TEST_DATABASE_URL, 5432);
    brokerProxy = toBroker.proxy;
    databaseProxy = toDatabase.proxy;
    service = await startTestService({
      RABBITMQ_URL: toBroker.url,
      DATABASE_URL: toDatabase.url,
      PUBLISH_DEADLINE_MS: String(PUBLISH_DEADLINE_MS),
      RABBITMQ_HEARTBEAT_SECONDS: "2",
      RABBITMQ_RECONNECT_MAX_MS: "500",
      DATABASE_POOL_SIZE: "4",
      DATABASE_CONNECT_TIMEOUT_MS: "500",
      DATABASE_STATEMENT_TIMEOUT_MS: "1000",
      PENDING_TIMEOUT_MS: "3000",
      SWEEP_INTERVAL_MS: "500",
    });
    broker = new BrokerProbe();
    database = new DatabaseProbe();
  });

  afterEach(() => {
    brokerProxy.restore();
    databaseProxy.restore();
  });

  after(async () => {
    await service?.close();
    await brokerProxy?.close();
    await databaseProxy?.close();
    await broker?.close();
    await database?.close();
  });

  /**
   * Checks what must hold after any fault, once the service has recovered. Every 200 has
   * exactly one message and a published row. No row is left pending and no message is
   * doubled. A row is published exactly when its message is in the queue, except a row
   * failed with BROKER_UNCONFIRMED, whose connection broke after the message was sent,
   * so the broker may have taken it without confirming.
   */
  async function expectConsistent(route: EventRoute, outcomes: readonly Outcome[]) {
    for (let waited = 0; waited < 10_000; waited += 250) {
      const rows = await database.rowsFor(route);
      if (rows.every((row) => row.status !== "pending")) break;
      await sleep(250);
    }
    const messages = await broker.drain(routeQueue(route));
    const queued = new Map<string, number>();
    for (const message of messages) {
      queued.set(message.messageId ?? "", (queued.get(message.messageId ?? "") ?? 0) + 1);
    }
    for (const outcome of outcomes.filter((o) => o.status === 200)) {
      expect(queued.get(outcome.eventUid ?? ""), `messages of ${outcome.eventUid}`).to.equal(1);
    }
    for (const row of await database.rowsFor(route)) {
      expect(row.status, `status of ${row.event_uid}`).not.to.equal("pending");
      if (row.last_error?.startsWith("BROKER_UNCONFIRMED")) continue;
      expect(queued.has(row.event_uid), `message of ${row.status} ${row.event_uid}`).to.equal(
        row.status === "published",
      );
    }
    expect(
      [...queued.values()].every((count) => count === 1),
      "no duplicates",
    ).to.equal(true);
  }

  describe("between the service and RabbitMQ", () => {
    it("survives its connection being reset under load", async () => {
      const route = uniqueRoute();

      const outcomes = await load(service, route, 200, 16, () => brokerProxy.reset());

      for (const outcome of outcomes) {
        expect(outcome.status).to.be.oneOf([200, 500]);
        expect(outcome.elapsedMs).to.be.below(PUBLISH_DEADLINE_MS + MARGIN_MS);
        if (outcome.status === 500) {
          expect(outcome.code).to.be.oneOf(["BROKER_UNAVAILABLE", "BROKER_UNCONFIRMED"]);
        }
      }
      expect(await timeToRecovery(service, route, 5000)).to.be.below(5000);
      await expectConsistent(route, outcomes);
      expect(brokerProxy.connectionCount).to.equal(1);
    });

    it("fails within the deadline while black-holed, and recovers after", async () => {
      const route = uniqueRoute();
      await post(service, route, { warm: true });
      brokerProxy.blackhole();

      const outcomes = await Promise.all([1, 2, 3, 4].map((n) => post(service, route, { n })));

      for (const outcome of outcomes) {
        expect(outcome.status).to.equal(500);
        expect(outcome.elapsedMs).to.be.below(PUBLISH_DEADLINE_MS + MARGIN_MS);
      }
      brokerProxy.restore();
      expect(await timeToRecovery(service, route, 10_000)).to.be.below(10_000);
      await expectConsistent(route, outcomes);
    });

    it("fails fast while the broker blocks publishers, and recovers after", async () => {
      const route = uniqueRoute();
      await post(service, route, { warm: true });
      await execFileAsync("rabbitmqctl", ["set_vm_memory_high_watermark", "0.000001"]);
      let outcomes: Outcome[] = [];
      try {
        const first = await post(service, route, { n: 1 });
        const second = await post(service, route, { n: 2 });
        outcomes = [first, second];

        expect(first.status).to.equal(500);
        expect(first.elapsedMs).to.be.below(PUBLISH_DEADLINE_MS + MARGIN_MS);
        expect(second.status).to.equal(500);
        expect(second.code).to.equal("BROKER_UNAVAILABLE");
        expect(second.elapsedMs).to.be.below(500);
        const readiness = await fetch(new URL("/readyz", service.url));
        expect(readiness.status).to.equal(503);
      } finally {
        await execFileAsync("rabbitmqctl", ["set_vm_memory_high_watermark", "0.4"]);
      }
      expect(await timeToRecovery(service, route, 5000)).to.be.below(5000);
      await expectConsistent(route, outcomes);
    });
  });

  describe("between the service and PostgreSQL", () => {
    it("survives its connections being reset under load", async () => {
      const route = uniqueRoute();

      const outcomes = await load(service, route, 200, 16, () => databaseProxy.reset());

      for (const outcome of outcomes) {
        expect(outcome.status).to.be.oneOf([200, 500]);
        expect(outcome.elapsedMs).to.be.below(PUBLISH_DEADLINE_MS + MARGIN_MS);
        if (outcome.status === 500) expect(outcome.code).to.equal("DATABASE_UNAVAILABLE");
      }
      expect(await timeToRecovery(service, route, 5000)).to.be.below(5000);
      await expectConsistent(route, outcomes);
      expect(databaseProxy.connectionCount).to.be.at.most(4);
    });

    it("bounds the wait for a black-holed database, and recovers after", async () => {
      const route = uniqueRoute();
      databaseProxy.blackhole();

      const outcomes = await Promise.all([1, 2, 3].map((n) => post(service, route, { n })));

      // A query times out after DATABASE_STATEMENT_TIMEOUT_MS + 1 s = 2 s. An insert that
      // queued behind the two batches in progress can wait for one of them first.
      for (const outcome of outcomes) {
        expect(outcome.status).to.equal(500);
        expect(outcome.code).to.equal("DATABASE_UNAVAILABLE");
        expect(outcome.elapsedMs).to.be.below(2 * 2000 + 500);
      }
      databaseProxy.restore();
      expect(await timeToRecovery(service, route, 10_000)).to.be.below(10_000);
      expect(await broker.count(routeQueue(route))).to.equal(1);
    });

    it("bounds the wait for a connection when the pool is exhausted", async () => {
      const route = uniqueRoute();
      databaseProxy.slow(400);

      const outcomes = await load(service, route, 40, 20);

      for (const outcome of outcomes) {
        expect(outcome.status).to.be.oneOf([200, 500]);
        expect(outcome.elapsedMs).to.be.below(4000);
      }
      expect(outcomes.filter((outcome) => outcome.code === "DATABASE_UNAVAILABLE")).not.to.be.empty;
      databaseProxy.restore();
      await expectConsistent(route, outcomes);
    });
  });

  it("keeps connections and memory flat across repeated resets", async () => {
    const route = uniqueRoute();
    const cycle = async () => {
      await load(service, route, 100, 8, () => {
        brokerProxy.reset();
        databaseProxy.reset();
      });
      await timeToRecovery(service, route, 5000);
      await broker.drain(routeQueue(route));
    };
    const heapAfterCollection = () => {
      global.gc?.();
      return process.memoryUsage().heapUsed;
    };
    await cycle();
    const baseline = heapAfterCollection();

    for (let round = 0; round < 5; round++) await cycle();

    const growth = heapAfterCollection() - baseline;
    expect(growth, `heap growth in bytes`).to.be.below(8 * 1024 * 1024);
    expect(brokerProxy.connectionCount).to.equal(1);
    expect(databaseProxy.connectionCount).to.be.at.most(4);
  });
});
