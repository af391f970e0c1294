import { setTimeout as sleep } from "node:timers/promises";

import { EventNotPublishedError, PublishError } from "../errors.js";
import type { Logger } from "../logger.js";
import type { EventPublisher } from "../messaging/event-publisher.js";
import { exponentialBackoff } from "../messaging/retry-policy.js";
import { toDatabaseError } from "../persistence/database-errors.js";
import type { EventStore } from "../persistence/event-store.js";
import {
  createEvent,
  type EventRoute,
  messageType,
  type NewEvent,
  queueName,
  serializeEnvelope,
} from "./event.js";

/** Backoff for retrying the `published` status write after the broker confirmed. */
const STATUS_RETRY = exponentialBackoff({ initialMs: 200, maxMs: 5000 });

/**
 * The event pipeline: store the event as `pending`, publish it, then record the outcome.
 * A database failure before publishing means nothing is published. A publish failure
 * leaves the event `failed`, and it is not published later on its own.
 */
export class EventIngestion {
  /** Background retries of status writes, awaited by close(). */
  private readonly statusRetries = new Set<Promise<void>>();
  private closing = false;

  constructor(
    private readonly store: EventStore,
    private readonly publisher: EventPublisher,
    private readonly logger: Logger,
  ) {}

  /**
   * Stores and publishes one event, and resolves with it once the broker confirmed it.
   * Rejects with a RequestError or DatabaseError when nothing was stored, and with
   * EventNotPublishedError when the event was stored but not published.
   */
  async ingest(route: EventRoute, dataJson: string, logger = this.logger): Promise<NewEvent> {
    const event = createEvent(route, dataJson);
    await this.insert(event);
    const attempts = await this.publish(event, logger);
    await this.recordPublished(event.uid, attempts, logger);
    logger.debug({ eventUid: event.uid, attempts }, "event published");
    return event;
  }

  /** Records a confirm that arrived after the publish had failed with BROKER_UNCONFIRMED. */
  recordLateConfirm(eventUid: string): void {
    void this.recordPublished(eventUid, undefined, this.logger);
  }

  /** Waits for background status writes to finish, or stops retrying them after `timeoutMs`. */
  async close(timeoutMs: number): Promise<void> {
    const finished = Promise.all(this.statusRetries).then(() => true);
    const outcome = await Promise.race([finished, sleep(timeoutMs, false, { ref: false })]);
    this.closing = true;
    if (!outcome) {
      this.logger.error(
        { pendingWrites: this.statusRetries.size },
        "stopped with published events still recorded as pending",
      );
    }
  }

  private async insert(event: NewEvent): Promise<void> {
    try {
      await this.store.insert(event);
    } catch (error) {
      throw toDatabaseError("storing the event", error);
    }
  }

  private async publish(event: NewEvent, logger: Logger): Promise<number> {
    const message = {
      queue: queueName(event.route),
      messageId: event.uid,
      type: messageType(event.route),
      timestampMs: Date.parse(event.timestamp),
      body: serializeEnvelope(event),
    };
    try {
      return await this.publisher.publish(message, logger);
    } catch (error) {
      if (!(error instanceof PublishError)) throw error;
      await this.recordFailed(event.uid, error, logger);
      throw new EventNotPublishedError(event.uid, event.timestamp, error);
    }
  }

  private async recordFailed(uid: string, error: PublishError, logger: Logger): Promise<void> {
    try {
      await this.store.markFailed(uid, `${error.code}: ${error.reason}`, error.attempts);
    } catch (writeError) {
      logger.error({ err: writeError, eventUid: uid }, "could not mark event failed");
    }
  }

  /**
   * Marks the event `published`. The broker has confirmed the message at this point, so a
   * failed write must not fail the request: it is retried in the background instead.
   */
  private async recordPublished(uid: string, attempts: number | undefined, logger: Logger) {
    try {
      await this.store.markPublished(uid, attempts);
    } catch (error) {
      logger.error({ err: error, eventUid: uid }, "could not mark event published; retrying");
      const retry = this.retryRecordPublished(uid, attempts, logger);
      this.statusRetries.add(retry);
      void retry.finally(() => this.statusRetries.delete(retry));
    }
  }

  private async retryRecordPublished(uid: string, attempts: number | undefined, logger: Logger) {
    for (let retry = 1; !this.closing; retry++) {
      await sleep(STATUS_RETRY(retry));
      try {
        await this.store.markPublished(uid, attempts);
        logger.info({ eventUid: uid, retries: retry }, "event marked published after retries");
        return;
      } catch {
        // Keep retrying until close(); the first failure was logged.
      }
    }
  }
}
