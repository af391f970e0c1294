import type { NewEvent } from "../events/event.js";
import type { PrismaClient } from "./database.js";

/**
 * Reads and writes rows of the `events` table. Methods throw Prisma's errors unchanged;
 * callers turn them into gateway errors with toDatabaseError.
 */
export class EventStore {
  constructor(private readonly prisma: PrismaClient) {}

  /**
   * Inserts the event with status `pending`. The data goes in as JSON text cast to jsonb,
   * because Prisma's Json fields pass through JSON.stringify, which drops digits of
   * integers beyond 2^53.
   */
  async insert(event: NewEvent): Promise<void> {
    const { solution, model, action } = event.route;
    await this.prisma.$executeRaw`
      INSERT INTO events (event_uid, event_timestamp, solution, model, action, event_data)
      VALUES (${event.uid}::uuid, ${event.timestamp}::timestamptz, ${solution}, ${model},
              ${action}, ${event.dataJson}::jsonb)`;
  }

  /**
   * Sets the status to `published`, whatever it was: the broker's confirm is the final
   * word, even when it arrives after the event was marked `failed`. `attempts` is left
   * unchanged when undefined.
   */
  async markPublished(uid: string, attempts?: number): Promise<void> {
    const now = new Date();
    await this.prisma.event.update({
      where: { eventUid: uid },
      data: {
        status: "published",
        publishedAt: now,
        publishAttempts: attempts,
        lastError: null,
        updatedAt: now,
      },
    });
  }

  /** Sets the status to `failed` unless the event is no longer `pending`. */
  async markFailed(uid: string, error: string, attempts: number): Promise<void> {
    await this.prisma.event.updateMany({
      where: { eventUid: uid, status: "pending" },
      data: {
        status: "failed",
        lastError: error,
        publishAttempts: attempts,
        updatedAt: new Date(),
      },
    });
  }

  /** Runs a trivial query, for the readiness probe. */
  async ping(): Promise<void> {
    await this.prisma.$queryRaw`SELECT 1`;
  }
}
