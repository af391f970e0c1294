import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { setTimeout as sleep } from "node:timers/promises";

import type { Connection } from "rabbitmq-client";

import type { Config } from "./config.js";
import { EventIngestion } from "./events/ingestion.js";
import { Sweeper } from "./events/sweeper.js";
import { createApi } from "./http/api.js";
import { createApp } from "./http/app.js";
import { respondToClientErrors } from "./http/client-errors.js";
import { getHealth, getReadiness } from "./http/handlers/health.js";
import { publishEvent } from "./http/handlers/publish-event.js";
import { publishEventBatch } from "./http/handlers/publish-event-batch.js";
import type { Logger } from "./logger.js";
import { connectBroker } from "./messaging/broker.js";
import { EventPublisher } from "./messaging/event-publisher.js";
import { exponentialBackoff } from "./messaging/retry-policy.js";
import { createPool, createPrismaClient } from "./persistence/database.js";
import { EventStore } from "./persistence/event-store.js";
import { applyMigrations, ensureDatabase } from "./persistence/migrate.js";
import { remainingMs, settlesWithin } from "./shutdown.js";

/** First and largest backoff in ms between publish attempts within the deadline. */
const PUBLISH_RETRY = { initialMs: 50, maxMs: 1000 };

/** Time in ms given to closing the database pool even when the shutdown deadline has passed. */
const DATABASE_CLOSE_MIN_MS = 500;

/** Interval in ms between closings of idle keep-alive connections during shutdown. */
const IDLE_SWEEP_INTERVAL_MS = 50;

/**
 * Maximum time in ms for a client to send its request line and headers, and its whole
 * request. Node 20's defaults, 60 s and 300 s, let slow clients hold connections for minutes.
 */
const HEADERS_TIMEOUT_MS = 10_000;
const REQUEST_TIMEOUT_MS = 30_000;

/** Interval in ms at which Node checks those timeouts. With its default, 30 s, they fire late. */
const TIMEOUT_CHECK_INTERVAL_MS = 1000;

export interface Service {
  readonly server: Server;
  /** Base URL of the HTTP server, such as http://127.0.0.1:3000. */
  readonly url: string;
  readonly broker: Connection;
  readonly sweeper: Sweeper;
  /** Stops accepting requests, lets those in flight finish, then closes every connection. */
  close(): Promise<void>;
}

/**
 * Starts the service: creates the database if needed, applies migrations, connects to
 * PostgreSQL and RabbitMQ, and listens for HTTP. Fails when PostgreSQL is unreachable,
 * but not when RabbitMQ is: publishing fails until the broker connection opens.
 */
export async function startService(config: Config, logger: Logger): Promise<Service> {
  await ensureDatabase(config.databaseUrl, logger);
  await applyMigrations(config.databaseUrl, logger);

  const pool = createPool(config, logger);
  const prisma = createPrismaClient(pool);
  const store = new EventStore(prisma);
  const broker = connectBroker(config, logger);

  let ingestion: EventIngestion | undefined;
  const publisher = new EventPublisher(broker, {
    deadlineMs: config.publishDeadlineMs,
    retryPolicy: exponentialBackoff(PUBLISH_RETRY),
    logger,
    onLateConfirm: (eventUid) => ingestion?.recordLateConfirm(eventUid),
  });
  ingestion = new EventIngestion(store, publisher, logger);
  const sweeper = new Sweeper(
    store,
    {
      pendingTimeoutMs: config.pendingTimeoutMs,
      intervalMs: config.sweepIntervalMs,
      keyRetentionHours: config.idempotencyKeyRetentionHours,
    },
    logger,
  );

  const api = await createApi({
    publishEvent: publishEvent(ingestion),
    publishEventBatch: publishEventBatch(ingestion),
    getHealth,
    getReadiness: getReadiness({
      database: () => store.ping(),
      broker: () => broker.ready && !publisher.blocked,
    }),
  });
  const app = createApp({
    api,
    logger,
    bodyLimitBytes: config.bodyLimitBytes,
    batchMaxEvents: config.batchMaxEvents,
  });
  const server = createServer(
    {
      headersTimeout: HEADERS_TIMEOUT_MS,
      requestTimeout: REQUEST_TIMEOUT_MS,
      connectionsCheckingInterval: TIMEOUT_CHECK_INTERVAL_MS,
    },
    app,
  );
  respondToClientErrors(server, logger);
  await sweeper.start();
  await listen(server, config.port, config.host);

  const { port } = server.address() as AddressInfo;
  const url = `http://${config.host.includes(":") ? `[${config.host}]` : config.host}:${port}`;

  // Every step waits only for the time left of one SHUTDOWN_TIMEOUT_MS, so a broker or
  // database that stopped responding cannot hold the process past it.
  const close = async () => {
    const deadline = Date.now() + config.shutdownTimeoutMs;
    await stopHttp(server, remainingMs(deadline), logger);
    await sweeper.stop();
    await ingestion.close(deadline);
    const brokerClosed = await settlesWithin(
      publisher.close().then(() => broker.close()),
      remainingMs(deadline),
    );
    if (!brokerClosed) {
      logger.warn("broker connection did not close before the shutdown timeout; dropping it");
      broker.unsafeDestroy();
    }
    await settlesWithin(
      prisma.$disconnect().then(() => pool.end()),
      Math.max(remainingMs(deadline), DATABASE_CLOSE_MIN_MS),
    );
  };
  return { server, url, broker, sweeper, close };
}

function listen(server: Server, port: number, host: string): Promise<void> {
  return new Promise((resolve, reject) => {
    server.once("error", reject);
    server.listen(port, host, () => {
      server.off("error", reject);
      resolve();
    });
  });
}

/**
 * Stops accepting connections and waits up to `timeoutMs` for requests in flight, then
 * closes the connections that remain.
 */
async function stopHttp(server: Server, timeoutMs: number, logger: Logger): Promise<void> {
  const closed = new Promise<void>((resolve) => server.close(() => resolve()));
  // server.close() ends the connections idle at that moment; a keep-alive connection whose
  // request finishes later stays open until the client's next request, so sweep again.
  const sweep = setInterval(() => server.closeIdleConnections(), IDLE_SWEEP_INTERVAL_MS);
  const finished = await Promise.race([
    closed.then(() => true),
    sleep(timeoutMs, false, { ref: false }),
  ]);
  clearInterval(sweep);
  if (!finished) {
    logger.warn({ timeoutMs }, "requests still in flight at the shutdown timeout; closing them");
    server.closeAllConnections();
    await closed;
  }
}
