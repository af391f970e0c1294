import { EventNotPublishedError, PublishError, RequestError } from "../errors.js";
import type { Logger } from "../logger.js";
import type { EventPublisher } from "../messaging/event-publisher.js";
import { Batcher } from "../persistence/batcher.js";
import { toDatabaseError } from "../persistence/database-errors.js";
import type { EventStore, IdempotencyKeyRecord, StoredEvent } from "../persistence/event-store.js";
import { remainingMs, settlesWithin } from "../shutdown.js";
import {
  createEvent,
  type EventRoute,
  hashRequest,
  messageType,
  type NewEvent,
  queueName,
  serializeEnvelope,
} from "./event.js";
import { StatusRecorder } from "./status-recorder.js";

/**
 * Batched statements of each kind in progress at once. Two keep one batch forming while
 * the other is written; more would split the load into smaller batches.
 */
const CONCURRENT_WRITES = 2;

/** Maximum events inserted by one statement; one array per column, so no bind limit. */
const MAX_INSERT_BATCH = 1000;

/** Seconds a client should wait before retrying a key whose first request is in progress. */
const KEY_IN_USE_RETRY_AFTER_SECONDS = 1;

/** The outcome of one event of a batch: published, or stored as `failed` with `error`. */
export interface BatchResult {
  readonly event: NewEvent;
  readonly error?: EventNotPublishedError;
}

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
  /** Inserts of concurrent requests without an Idempotency-Key, coalesced. */
  private readonly inserts: Batcher<NewEvent>;
  private readonly status: StatusRecorder;
  /** Ingestions and deliveries running now, which close() waits for. */
  private readonly inProgress = new Set<Promise<unknown>>();

  constructor(
    private readonly store: EventStore,
    private readonly publisher: EventPublisher,
    private readonly logger: Logger,
  ) {
    this.inserts = new Batcher((events) => store.insertMany(events), {
      maxBatchSize: MAX_INSERT_BATCH,
      maxConcurrentWrites: CONCURRENT_WRITES,
    });
    this.status = new StatusRecorder(store, logger, CONCURRENT_WRITES);
  }

  /**
   * Stores and publishes one event, and resolves with it once the broker confirmed it.
   * With an Idempotency-Key already used for the same request, resolves with the stored
   * event instead, publishing it first if it had failed. Rejects with a RequestError or
   * DatabaseError when nothing was stored, and with EventNotPublishedError when the event
   * is stored but not published.
   */
  ingest(request: IngestRequest, logger = this.logger): Promise<NewEvent> {
    return this.track(this.ingestTracked(request, logger));
  }

  private async ingestTracked(request: IngestRequest, logger: Logger): Promise<NewEvent> {
    if (request.idempotencyKey !== undefined) {
      return this.ingestWithKey(request, request.idempotencyKey, logger);
    }
    const event = createEvent(request.route, request.dataJson);
    await this.databaseStep("storing the event", () => this.inserts.submit(event));
    // The response waits for the row's commit and the broker's confirm, not for the
    // `published` write, which follows in the next batch. A repeated request with a key
    // reads that status, so keyed requests wait for it (see deliver).
    const attempts = await this.publish(event, logger);
    this.status.publishedLater(event.uid, attempts, logger);
    return event;
  }

  /** Publishes a stored event that is now `pending`, and records the outcome. */
  deliver(event: NewEvent, logger = this.logger): Promise<NewEvent> {
    return this.track(this.deliverTracked(event, logger));
  }

  private async deliverTracked(event: NewEvent, logger: Logger): Promise<NewEvent> {
    const attempts = await this.publish(event, logger);
    await this.status.published(event.uid, attempts, logger);
    return event;
  }

  /**
   * Stores a batch of events in one statement, so all or none are stored, then publishes
   * each and records each outcome. Resolves with one result per event, in order. Rejects
   * with a RequestError or DatabaseError when nothing was stored.
   */
  ingestBatch(
    route: EventRoute,
    dataJsons: readonly string[],
    logger = this.logger,
  ): Promise<BatchResult[]> {
    return this.track(this.ingestBatchTracked(route, dataJsons, logger));
  }

  private async ingestBatchTracked(
    route: EventRoute,
    dataJsons: readonly string[],
    logger: Logger,
  ): Promise<BatchResult[]> {
    const now = Date.now();
    const events = dataJsons.map((dataJson) => createEvent(route, dataJson, now));
    await this.databaseStep("storing the events", () => this.store.insertAll(events));
    return Promise.all(
      events.map((event) =>
        this.deliver(event, logger).then(
          (): BatchResult => ({ event }),
          (error: unknown): BatchResult => {
            if (!(error instanceof EventNotPublishedError)) throw error;
            return { event, error };
          },
        ),
      ),
    );
  }

  /** Records a confirm that arrived after the publish had failed with BROKER_UNCONFIRMED. */
  recordLateConfirm(eventUid: string): void {
    void this.status.published(eventUid, 0);
  }

  /** Waits for background status writes to finish, or stops retrying them after `timeoutMs`. */
  /**
   * Waits, until `deadline`, for the ingestions in progress, including those whose client
   * has gone, and then for their status writes.
   */
  async close(deadline: number): Promise<void> {
    const finished = await settlesWithin(
      Promise.allSettled(this.inProgress),
      remainingMs(deadline),
    );
    if (!finished) {
      this.logger.warn(
        { inProgress: this.inProgress.size },
        "ingestions still running at shutdown",
      );
    }
    await this.status.close(remainingMs(deadline));
  }

  private track<T>(work: Promise<T>): Promise<T> {
    this.inProgress.add(work);
    const forget = () => this.inProgress.delete(work);
    work.then(forget, forget);
    return work;
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

  /** Returns the event stored under a repeated request's key, publishing it if it failed. */
  private async resume(
    existing: StoredEvent,
    record: IdempotencyKeyRecord,
    logger: Logger,
  ): Promise<NewEvent> {
    if (existing.status === "published") {
      logger.info({ eventUid: existing.uid }, "repeated request returned the stored event");
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
      await this.status.failed(event.uid, error, logger);
      throw new EventNotPublishedError(event.uid, event.timestamp, error);
    }
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
