import { type DestinationStream, type Logger, pino } from "pino";

import type { LogLevel } from "./config.js";

export type { Logger };

/**
 * Creates the service's JSON logger. Each line carries an ISO 8601 `time` and a textual
 * `level`. Authorization and cookie headers are redacted wherever a request is logged.
 */
export function createLogger(level: LogLevel, destination?: DestinationStream): Logger {
  const options = {
    level,
    base: { service: "event-gateway" },
    timestamp: pino.stdTimeFunctions.isoTime,
    formatters: { level: (label: string) => ({ level: label }) },
    redact: [
      "req.headers.authorization",
      "req.headers.cookie",
      "req.headers['proxy-authorization']",
    ],
  };
  return destination === undefined ? pino(options) : pino(options, destination);
}
