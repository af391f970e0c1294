import { PrismaPg } from "@prisma/adapter-pg";
import pg from "pg";

import type { Config } from "../config.js";
import { PrismaClient } from "../generated/prisma/client.js";
import type { Logger } from "../logger.js";

export type { PrismaClient };

/**
 * Creates the PostgreSQL pool that Prisma uses. Every wait is bounded: getting a connection
 * (connecting included) by DATABASE_CONNECT_TIMEOUT_MS, a statement by
 * DATABASE_STATEMENT_TIMEOUT_MS on the server, and a reply by one second more on the client,
 * which also catches a server that stopped responding.
 */
export function createPool(config: Config, logger: Logger): pg.Pool {
  const pool = new pg.Pool({
    connectionString: config.databaseUrl,
    max: config.databasePoolSize,
    connectionTimeoutMillis: config.databaseConnectTimeoutMs,
    statement_timeout: config.databaseStatementTimeoutMs,
    query_timeout: config.databaseStatementTimeoutMs + 1000,
    idleTimeoutMillis: 30_000,
    keepAlive: true,
    application_name: "event-gateway",
  });
  // An idle connection that the server closes emits here; the pool discards it and opens
  // a new one on demand. Without a listener the process would exit.
  pool.on("error", (error) => logger.warn({ err: error }, "idle database connection closed"));
  return pool;
}

export function createPrismaClient(pool: pg.Pool): PrismaClient {
  return new PrismaClient({ adapter: new PrismaPg(pool) });
}
