/** Administration of the local PostgreSQL and RabbitMQ that the benchmark uses. */
import amqp, { type ChannelModel } from "amqplib";
import pg from "pg";

/** The benchmark's own database, which the service creates and migrates at start. */
export const BENCH_DATABASE_URL = "postgresql://postgres@127.0.0.1:5432/events_bench";
/** The service's default broker. */
export const RABBITMQ_URL = "amqp://guest:guest@127.0.0.1:5672";

/** PostgreSQL's version, such as 15.20, read from the maintenance database. */
export async function readPostgresVersion(): Promise<string> {
  const url = new URL(BENCH_DATABASE_URL);
  url.pathname = "/postgres";
  const client = new pg.Client({ connectionString: url.toString(), connectionTimeoutMillis: 5000 });
  await client.connect();
  try {
    const result = await client.query<{ server_version: string }>("SHOW server_version");
    return result.rows[0]?.server_version ?? "unknown";
  } finally {
    await client.end();
  }
}

/**
 * Empties the tables of the bench database, so that every phase inserts into an empty table
 * and runs do not accumulate rows.
 */
export async function emptyBenchTables(): Promise<void> {
  const client = new pg.Client({
    connectionString: BENCH_DATABASE_URL,
    connectionTimeoutMillis: 5000,
  });
  await client.connect();
  try {
    await client.query("TRUNCATE events, idempotency_keys");
  } finally {
    await client.end();
  }
}

/** Purges and deletes the benchmark's queues through amqplib, a client of its own. */
export class QueueAdmin {
  private connection: ChannelModel | undefined;
  private readonly queues = new Set<string>();

  /** RabbitMQ's version, from the server properties of the AMQP handshake. */
  async readBrokerVersion(): Promise<string> {
    const connection = await this.connect();
    const version = connection.connection.serverProperties.version;
    return typeof version === "string" ? version : "unknown";
  }

  /** Records `queue` for deleteAll() and returns it. Call it before anything declares the queue. */
  track(queue: string): string {
    this.queues.add(queue);
    return queue;
  }

  /** Removes every message from `queue`. A queue that does not exist is skipped. */
  async purge(queue: string): Promise<void> {
    await this.withChannel(async (channel) => {
      await channel.checkQueue(queue);
      await channel.purgeQueue(queue);
    });
  }

  /** Deletes every tracked queue, then closes the connection. */
  async deleteAll(): Promise<void> {
    for (const queue of this.queues) {
      await this.withChannel((channel) => channel.deleteQueue(queue));
      this.queues.delete(queue);
    }
    await this.connection?.close().catch(() => undefined);
    this.connection = undefined;
  }

  /**
   * Runs `work` on a new channel. A passive declare of a missing queue closes the channel
   * with 404 NOT_FOUND, which counts as done.
   */
  private async withChannel(work: (channel: amqp.Channel) => Promise<unknown>): Promise<void> {
    const connection = await this.connect();
    const channel = await connection.createChannel();
    channel.on("error", () => undefined);
    try {
      await work(channel);
    } catch (error) {
      if ((error as { code?: number }).code !== 404) throw error;
    } finally {
      await channel.close().catch(() => undefined);
    }
  }

  private async connect(): Promise<ChannelModel> {
    if (this.connection === undefined) {
      this.connection = await amqp.connect(RABBITMQ_URL);
      this.connection.on("error", () => undefined);
    }
    return this.connection;
  }
}
