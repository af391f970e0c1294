import { setTimeout as sleep } from "node:timers/promises";

import { EventNotPublishedError, PublishError, RequestError } from "../errors.js";
import type { Logger } from "../logger.js";
import type { EventPublisher } from "../messaging/event-publisher.js";
import { exponentialBackoff } from "../messaging/retry-policy.js";
import { toDatabaseError } from "../persistence/database-errors.js";
import type { EventStore, IdempotencyKeyRecord, StoredEvent } from "../persistence/event-store.js";
import {
  createEvent,
  type EventRoute,
  hashRequest,
  messageType,
  type NewEvent,
  queueName,
  serializeEnvelope,
} from "./event.js";

/** Backoff for retrying the `published` status write after the broker confirmed. */
const STATUS_RETRY = exponentialBackoff({ initialMs: 200, maxMs: 5000 });

/** Seconds a client should wait before retrying a key whose first request is in progress. */
const KEY_IN_USE_RETRY_AFTER_SECONDS = 1;

export interface IngestRequest {
  readonly route: EventRoute;
  /** The event data as compact JSON text. */
  readonly dataJson: string;
  readonly idempotencyKey?: string | undefined;
}

/**
 * The event pipeline: store the event as `pending`, publish it, then record the outcome.
 * A database failure before publishing means nothing is published. A publish failure
 * leaves the event `failed`; it is published again only when the client retries with its
 * Idempotency-Key, or an operator replays it.
 */
export class EventIngestion {
  /** Background retries of status writes, awaited by close(). */
  private readonly statusRetries = new Set<Promise<void>>();
  /** Status writes that succeeded in the background since the backlog was last empty. */
  private recoveredStatusWrites = 0;
  private closing = false;

  constructor(
    private readonly store: EventStore,
    private readonly publisher: EventPublisher,
    private readonly logger: Logger,
  ) {}

  /**
   * Stores and publishes one event, and resolves with it once the broker confirmed it.
   * With an Idempotency-Key already used for the same request, resolves with the stored
   * event instead, publishing it first if it had failed. Rejects with a RequestError or
   * DatabaseError when nothing was stored, and with EventNotPublishedError when the event
   * is stored but not published.
   */
  async ingest(request: IngestRequest, logger = this.logger): Promise<NewEvent> {
    if (request.idempotencyKey !== undefined) {
      return this.ingestWithKey(request, request.idempotencyKey, logger);
    }
    const event = createEvent(request.route, request.dataJson);
    await this.databaseStep("storing the event", () => this.store.insert(event));
    return this.deliver(event, logger);
  }

  /** Publishes a stored event that is now `pending`, and records the outcome. */
  async deliver(event: NewEvent, logger = this.logger): Promise<NewEvent> {
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

  private async ingestWithKey(
    request: IngestRequest,
    key: string,
    logger: Logger,
  ): Promise<NewEvent> {
    const record = { key, requestHash: hashRequest(request.route, request.dataJson) };
    const event = createEvent(request.route, request.dataJson);
    const stored = await this.databaseStep("storing the event", () =>
      this.store.insertWithKey(event, record),
    );
    if (stored) return this.deliver(event, logger);

    const existing = await this.databaseStep("reading the Idempotency-Key", () =>
      this.store.findByKey(key),
    );
    // The key expired and was deleted between the two statements.
    if (existing === undefined) throw keyInUse(key);
    if (existing.requestHash !== record.requestHash) throw keyReused(key);
    return this.resume(existing, record, logger);
  }

  /** Answers a repeated request from the event stored under its key. */
  private async resume(
    existing: StoredEvent,
    record: IdempotencyKeyRecord,
    logger: Logger,
  ): Promise<NewEvent> {
    if (existing.status === "published") {
      logger.info({ eventUid: existing.uid }, "repeated request answered with the stored event");
      return existing;
    }
    if (existing.status === "failed") {
      const claimed = await this.databaseStep("claiming the failed event", () =>
        this.store.claimFailed(existing.uid),
      );
      if (claimed !== undefined) {
        logger.info({ eventUid: claimed.uid }, "publishing a failed event again for its key");
        return this.deliver(claimed, logger);
      }
      const current = await this.databaseStep("reading the Idempotency-Key", () =>
        this.store.findByKey(record.key),
      );
      if (current?.status === "published") return current;
    }
    throw keyInUse(record.key);
  }

  private async databaseStep<T>(operation: string, step: () => Promise<T>): Promise<T> {
    try {
      return await step();
    } catch (error) {
      throw toDatabaseError(operation, error);
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
      // Under overload or an outage many writes fail together: the first of a burst is
      // logged with its error, the rest are counted and reported when the backlog clears.
      if (this.statusRetries.size === 0) {
        logger.error({ err: error, eventUid: uid }, "could not mark event published; retrying");
      }
      const retry = this.retryRecordPublished(uid, attempts).then((written) => {
        if (written) this.recoveredStatusWrites++;
      });
      this.statusRetries.add(retry);
      void retry.finally(() => {
        this.statusRetries.delete(retry);
        if (this.statusRetries.size === 0 && this.recoveredStatusWrites > 0) {
          this.reportRecoveredWrites();
        }
      });
    }
  }

  /** Retries the write until it succeeds or close() gives up; returns whether it succeeded. */
  private async retryRecordPublished(uid: string, attempts: number | undefined) {
    for (let retry = 1; !this.closing; retry++) {
      await sleep(STATUS_RETRY(retry));
      try {
        await this.store.markPublished(uid, attempts);
        return true;
      } catch {
        // Keep retrying until close(); the burst's first failure was logged.
      }
    }
    return false;
  }

  private reportRecoveredWrites(): void {
    this.logger.info(
      { count: this.recoveredStatusWrites },
      "events marked published after retrying the status write",
    );
    this.recoveredStatusWrites = 0;
  }
}

function keyInUse(key: string): RequestError {
  return new RequestError(
    "IDEMPOTENCY_KEY_IN_USE",
    `A request with Idempotency-Key ${JSON.stringify(key)} is still in progress. ` +
      "Retry after the delay in Retry-After to get its outcome.",
    { retryAfterSeconds: KEY_IN_USE_RETRY_AFTER_SECONDS },
  );
}

function keyReused(key: string): RequestError {
  return new RequestError(
    "IDEMPOTENCY_KEY_REUSED",
    `Idempotency-Key ${JSON.stringify(key)} was first used with a different path or body. ` +
      "Nothing was stored. Use a new key for a different event.",
  );
}
