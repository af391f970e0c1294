/**
 * The ledger: several clients send uniquely marked events to a service whose broker and
 * database connections run through fault-injecting proxies, while faults are injected on
 * a schedule. Afterwards every response is reconciled with the queue and the table.
 */
import { randomBytes } from "node:crypto";
import { setTimeout as sleep } from "node:timers/promises";

import type { EventRoute } from "../../src/events/event.js";
import { createLogger } from "../../src/logger.js";
import { startService } from "../../src/service.js";
import { BrokerProbe, routeQueue, startBroker, stopBroker } from "./broker.js";
import { DatabaseProbe } from "./database.js";
import { TEST_DATABASE_URL, TEST_RABBITMQ_URL, testConfig } from "./environment.js";
import { LogCapture } from "./logs.js";
import { TcpProxy } from "./tcp-proxy.js";

export interface LedgerOptions {
  /** How long the clients send, in ms. */
  readonly durationMs: number;
  /** Number of clients sending concurrently, each one request at a time. */
  readonly clients: number;
  /** Receives one line per fault and phase, for progress output. */
  readonly onProgress?: (line: string) => void;
}

/** The reconciliation of responses, messages and rows. */
export interface LedgerReport {
  readonly sent: number;
  readonly ok: number;
  /** 500 responses by error code. */
  readonly failedByCode: Readonly<Record<string, number>>;
  /** Responses other than 200 and 500, and requests that got no response. */
  readonly unexpected: number;
  readonly messages: number;
  /** 200 responses whose event has no message or no `published` row. */
  readonly lost: number;
  /** Events with more than one message. */
  readonly doubled: number;
  /** 500 responses whose event is in the queue, other than BROKER_UNCONFIRMED. */
  readonly failedButQueued: number;
  /** BROKER_UNCONFIRMED responses whose message the broker did take. */
  readonly unconfirmedButQueued: number;
  /** Rows still `pending` after the sweep. */
  readonly pendingRows: number;
  /** Rows whose status disagrees with the queue: published without a message or failed with one. */
  readonly statusMismatches: number;
  /** Messages with no row. */
  readonly orphanMessages: number;
  /** Rows stored for requests that got DATABASE_UNAVAILABLE, because the write's outcome was unknown. */
  readonly rowsForDatabaseFailures: number;
}

interface Outcome {
  readonly status: number | "no response";
  readonly code?: string;
  readonly eventUid?: string;
}

interface Fault {
  readonly atFraction: number;
  readonly name: string;
  readonly run: () => Promise<void>;
}

/** Runs the ledger and returns its report. Restarts the broker even when it fails. */
export async function runLedger(options: LedgerOptions): Promise<LedgerReport> {
  const progress = options.onProgress ?? (() => {});
  const brokerUrl = new URL(TEST_RABBITMQ_URL);
  const databaseUrl = new URL(TEST_DATABASE_URL);
  const brokerProxy = new TcpProxy(brokerUrl.hostname, Number(brokerUrl.port || 5672));
  const databaseProxy = new TcpProxy(databaseUrl.hostname, Number(databaseUrl.port || 5432));
  brokerUrl.port = String(await brokerProxy.listen());
  databaseUrl.port = String(await databaseProxy.listen());

  const service = await startService(
    testConfig({
      RABBITMQ_URL: brokerUrl.toString(),
      DATABASE_URL: databaseUrl.toString(),
      PENDING_TIMEOUT_MS: "4000",
      SWEEP_INTERVAL_MS: "1000",
    }),
    createLogger("info", new LogCapture()),
  );
  const route: EventRoute = {
    solution: `ledger-${randomBytes(4).toString("hex")}`,
    model: "order",
    action: "create",
  };
  const broker = new BrokerProbe();
  const database = new DatabaseProbe();
  let brokerStopped = false;

  const faults: Fault[] = [
    { atFraction: 0.15, name: "broker connection reset", run: async () => brokerProxy.reset() },
    { atFraction: 0.3, name: "database connections reset", run: async () => databaseProxy.reset() },
    {
      atFraction: 0.45,
      name: "broker stopped",
      run: async () => {
        brokerStopped = true;
        await stopBroker();
      },
    },
    {
      atFraction: 0.6,
      name: "broker started",
      run: async () => {
        await startBroker();
        brokerStopped = false;
      },
    },
    { atFraction: 0.75, name: "broker connection reset", run: async () => brokerProxy.reset() },
    {
      atFraction: 0.85,
      name: "database connections reset",
      run: async () => databaseProxy.reset(),
    },
  ];

  try {
    const started = Date.now();
    const sending = sendSteadily(service.url, route, options.clients, started + options.durationMs);
    await injectFaults(faults, started, options.durationMs, progress);
    const outcomes = await sending;
    progress(`sent ${outcomes.length} requests; waiting for the sweep`);

    await waitForNoPendingRows(database, route, service.sweeper);
    const messages = await broker.drain(routeQueue(route));
    const rows = await database.rowsFor(route);
    return reconcile(outcomes, messages, rows);
  } finally {
    if (brokerStopped) await startBroker();
    await service.close();
    await brokerProxy.close();
    await databaseProxy.close();
    await broker.close();
    await database.close();
  }
}

async function injectFaults(
  faults: readonly Fault[],
  started: number,
  durationMs: number,
  progress: (line: string) => void,
): Promise<void> {
  for (const fault of faults) {
    const dueIn = started + fault.atFraction * durationMs - Date.now();
    if (dueIn > 0) await sleep(dueIn);
    progress(`${((Date.now() - started) / 1000).toFixed(1)} s: ${fault.name}`);
    await fault.run();
  }
}

/** Runs `clients` clients that each post events one after another until `endAt`. */
async function sendSteadily(
  baseUrl: string,
  route: EventRoute,
  clients: number,
  endAt: number,
): Promise<Outcome[]> {
  const path = `/api/event/${route.solution}/${route.model}/${route.action}`;
  const outcomes: Outcome[] = [];
  const client = async (clientId: number) => {
    for (let sequence = 0; Date.now() < endAt; sequence++) {
      outcomes.push(await post(new URL(path, baseUrl), { client: clientId, sequence }));
    }
  };
  await Promise.all(Array.from({ length: clients }, (_, clientId) => client(clientId)));
  return outcomes;
}

async function post(url: URL, data: unknown): Promise<Outcome> {
  try {
    const response = await fetch(url, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify(data),
    });
    const body = (await response.json()) as { code?: string; event_uid?: string };
    return { status: response.status, code: body.code, eventUid: body.event_uid };
  } catch {
    return { status: "no response" };
  }
}

/** Waits until the sweep has given every row of `route` a final status. */
async function waitForNoPendingRows(
  database: DatabaseProbe,
  route: EventRoute,
  sweeper: { sweep(): Promise<unknown> },
): Promise<void> {
  for (let waited = 0; waited < 30_000; waited += 500) {
    const rows = await database.rowsFor(route);
    if (rows.every((row) => row.status !== "pending")) return;
    await sweeper.sweep().catch(() => undefined);
    await sleep(500);
  }
}

function reconcile(
  outcomes: readonly Outcome[],
  messages: readonly { messageId: string | undefined }[],
  rows: readonly { event_uid: string; status: string }[],
): LedgerReport {
  const messageCounts = new Map<string, number>();
  for (const message of messages) {
    const uid = message.messageId ?? "";
    messageCounts.set(uid, (messageCounts.get(uid) ?? 0) + 1);
  }
  const rowStatus = new Map(rows.map((row) => [row.event_uid, row.status]));
  const queued = (uid: string | undefined) => (messageCounts.get(uid ?? "") ?? 0) > 0;

  const failedByCode: Record<string, number> = {};
  let ok = 0;
  let unexpected = 0;
  let lost = 0;
  let failedButQueued = 0;
  let unconfirmedButQueued = 0;
  for (const outcome of outcomes) {
    if (outcome.status === 200) {
      ok++;
      if (
        messageCounts.get(outcome.eventUid ?? "") !== 1 ||
        rowStatus.get(outcome.eventUid ?? "") !== "published"
      ) {
        lost++;
      }
    } else if (outcome.status === 500) {
      const code = outcome.code ?? "none";
      failedByCode[code] = (failedByCode[code] ?? 0) + 1;
      if (code === "BROKER_UNCONFIRMED") {
        if (queued(outcome.eventUid)) unconfirmedButQueued++;
      } else if (queued(outcome.eventUid)) {
        failedButQueued++;
      }
    } else {
      unexpected++;
    }
  }

  // Every response except DATABASE_UNAVAILABLE contains the event's uid.
  const answeredUids = new Set(outcomes.map((outcome) => outcome.eventUid));
  const rowsForDatabaseFailures = rows.filter((row) => !answeredUids.has(row.event_uid)).length;

  return {
    sent: outcomes.length,
    ok,
    failedByCode,
    unexpected,
    messages: messages.length,
    lost,
    doubled: [...messageCounts.values()].filter((count) => count > 1).length,
    failedButQueued,
    unconfirmedButQueued,
    pendingRows: rows.filter((row) => row.status === "pending").length,
    statusMismatches: rows.filter((row) => (row.status === "published") !== queued(row.event_uid))
      .length,
    orphanMessages: [...messageCounts.keys()].filter((uid) => !rowStatus.has(uid)).length,
    rowsForDatabaseFailures,
  };
}
