import { randomBytes } from "node:crypto";

import pg from "pg";
import { v7 as uuidv7 } from "uuid";

import type { EventRoute } from "../../src/events/event.js";
import { TEST_DATABASE_URL } from "./environment.js";

export interface EventRow {
  readonly event_uid: string;
  readonly event_timestamp: Date;
  readonly solution: string;
  readonly model: string;
  readonly action: string;
  readonly event_data: unknown;
  readonly event_data_text: string;
  readonly status: "pending" | "published" | "failed";
  readonly publish_attempts: number;
  readonly published_at: Date | null;
  readonly last_error: string | null;
}

const SELECT_EVENTS = `SELECT *, event_data::text AS event_data_text FROM events`;

/** Reads the test database directly, bypassing the service. */
export class DatabaseProbe {
  readonly pool = new pg.Pool({ connectionString: TEST_DATABASE_URL, max: 2 });

  constructor() {
    this.pool.on("error", () => {
      // Fault tests terminate connections; the pool opens new ones.
    });
  }

  async rowsFor(route: EventRoute): Promise<EventRow[]> {
    const result = await this.pool.query<EventRow>(
      `${SELECT_EVENTS} WHERE solution = $1 AND model = $2 AND action = $3 ORDER BY event_uid`,
      [route.solution, route.model, route.action],
    );
    return result.rows;
  }

  /**
   * Returns the row once it is no longer `pending`, or as it is after `timeoutMs`. The
   * `published` write of a request without an Idempotency-Key follows its 200 response.
   */
  async settledRow(eventUid: string, timeoutMs = 3000): Promise<EventRow | undefined> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const row = await this.row(eventUid);
      if (row?.status !== "pending" || Date.now() >= deadline) return row;
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
  }

  async row(eventUid: string): Promise<EventRow | undefined> {
    const result = await this.pool.query<EventRow>(`${SELECT_EVENTS} WHERE event_uid = $1`, [
      eventUid,
    ]);
    return result.rows[0];
  }

  /**
   * Inserts an event row directly, as the service would have stored it, with the given
   * status and last update time. Returns its uid.
   */
  async insertEvent(
    route: EventRoute,
    data: unknown,
    status: EventRow["status"],
    updatedAt = new Date(),
  ): Promise<string> {
    const uid = uuidv7();
    await this.pool.query(
      `INSERT INTO events (event_uid, event_timestamp, solution, model, action, event_data,
                           status, updated_at)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8)`,
      [
        uid,
        new Date(),
        route.solution,
        route.model,
        route.action,
        JSON.stringify(data),
        status,
        updatedAt,
      ],
    );
    return uid;
  }

  close(): Promise<void> {
    return this.pool.end();
  }
}

/**
 * Makes the test database refuse new connections and ends the open ones, which is what
 * clients see when PostgreSQL goes down. Resolves with a function that restores it.
 */
export async function cutDatabase(): Promise<() => Promise<void>> {
  const target = new URL(TEST_DATABASE_URL);
  const name = decodeURIComponent(target.pathname.slice(1));
  target.pathname = "/postgres";
  const admin = new pg.Client({ connectionString: target.toString() });
  await admin.connect();
  const identifier = admin.escapeIdentifier(name);
  await admin.query(`ALTER DATABASE ${identifier} ALLOW_CONNECTIONS false`);
  await admin.query(
    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()",
    [name],
  );
  return async () => {
    await admin.query(`ALTER DATABASE ${identifier} ALLOW_CONNECTIONS true`);
    await admin.end();
  };
}

/** Returns the URL of a database that does not exist yet, on the test server. */
export function scratchDatabaseUrl(prefix: string): string {
  const url = new URL(TEST_DATABASE_URL);
  url.pathname = `/${prefix}_${randomBytes(4).toString("hex")}`;
  return url.toString();
}

/** Drops the database of `databaseUrl`, ending its sessions. */
export async function dropDatabase(databaseUrl: string): Promise<void> {
  const url = new URL(databaseUrl);
  const name = url.pathname.slice(1);
  url.pathname = "/postgres";
  const client = new pg.Client({ connectionString: url.toString() });
  await client.connect();
  await client.query(`DROP DATABASE IF EXISTS ${client.escapeIdentifier(name)} WITH (FORCE)`);
  await client.end();
}
