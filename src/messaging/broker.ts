import { AMQPChannelError, AMQPConnectionError, Connection } from "rabbitmq-client";

import type { Config } from "../config.js";
import type { Logger } from "../logger.js";

/** Lower bound in ms of rabbitmq-client's randomized reconnection backoff. */
const RECONNECT_MIN_MS = 100;

/**
 * Opens the RabbitMQ connection, which reconnects by itself whenever it drops. The library
 * defaults (20 s to wait for a channel, up to 30 s between reconnection attempts) would hold
 * requests far past the publish deadline, so both are bounded by the configuration.
 */
export function connectBroker(config: Config, logger: Logger): Connection {
  const connection = new Connection({
    url: config.rabbitmqUrl,
    connectionName: "event-gateway",
    connectionTimeout: config.rabbitmqConnectTimeoutMs,
    acquireTimeout: Math.min(config.publishDeadlineMs, config.rabbitmqConnectTimeoutMs),
    retryLow: RECONNECT_MIN_MS,
    retryHigh: config.rabbitmqReconnectMaxMs,
    heartbeat: config.rabbitmqHeartbeatSeconds,
    // Publishes wait for confirms, so Nagle's algorithm would only add latency.
    noDelay: true,
  });
  logConnectionStateChanges(connection, logger);
  return connection;
}

/**
 * Logs each change of the connection's state once. rabbitmq-client emits `error` for the
 * first failed attempt of a reconnection loop only, and `connection` when it succeeds.
 */
function logConnectionStateChanges(connection: Connection, logger: Logger): void {
  let lostAt: number | undefined;
  let connectedBefore = false;

  connection.on("error", (error) => {
    if (error instanceof AMQPChannelError && !(error instanceof AMQPConnectionError)) {
      logger.error({ err: error }, "broker closed a channel");
      return;
    }
    if (lostAt !== undefined) return;
    lostAt = Date.now();
    const message = connectedBefore ? "broker connection lost; reconnecting" : "broker unreachable";
    logger.error({ err: error }, message);
  });

  connection.on("connection", () => {
    if (lostAt === undefined) {
      logger.info(connectedBefore ? "broker reconnected" : "broker connected");
    } else {
      logger.info({ downMs: Date.now() - lostAt }, "broker connection restored");
    }
    lostAt = undefined;
    connectedBefore = true;
  });

  connection.on("connection.blocked", (reason) => {
    logger.warn({ reason }, "broker blocked publishing; requests fail until it unblocks");
  });
  connection.on("connection.unblocked", () => logger.info("broker unblocked publishing"));
}
