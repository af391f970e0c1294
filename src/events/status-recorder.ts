import { setTimeout as sleep } from "node:timers/promises";

import type { PublishError } from "../errors.js";
import type { Logger } from "../logger.js";
import { exponentialBackoff } from "../messaging/retry-policy.js";
import { Batcher } from "../persistence/batcher.js";
import type { EventStore } from "../persistence/event-store.js";

/** Backoff for retrying the `published` status write after the broker confirmed. */
const STATUS_RETRY = exponentialBackoff({ initialMs: 200, maxMs: 5000 });

interface PublishedUpdate {
  readonly uid: string;
  readonly attempts: number;
}

/**
 * Records the outcome of each publish in the `events` table. `published` writes of
 * concurrent requests are coalesced into one UPDATE per batch. Once the broker has
 * confirmed a message, a failed write must not fail the request, so it is retried in the
 * background until it succeeds or close() gives up.
 */
export class StatusRecorder {
  private readonly publishedWrites: Batcher<PublishedUpdate>;
  /** `published` writes that no request waits for, awaited by close(). */
  private readonly unawaited = new Set<Promise<void>>();
  /** Background retries of `published` writes, awaited by close(). */
  private readonly retries = new Set<Promise<void>>();
  /** Writes that succeeded in the background since the backlog was last empty. */
  private recoveredWrites = 0;
  private closing = false;

  constructor(
    private readonly store: EventStore,
    private readonly logger: Logger,
    concurrentWrites: number,
  ) {
    this.publishedWrites = new Batcher(
      async (updates) => {
        await this.store.markPublishedMany(updates);
        return updates.map(() => undefined);
      },
      { maxBatchSize: 1000, maxConcurrentWrites: concurrentWrites },
    );
  }

  /**
   * Marks the event `published`, adding `attempts` to its count. Resolves once written,
   * or once the write failed and moved to the background; it never rejects.
   */
  async published(uid: string, attempts: number, logger = this.logger): Promise<void> {
    try {
      await this.publishedWrites.submit({ uid, attempts });
    } catch (error) {
      // Under overload or an outage many writes fail together: the first of a burst is
      // logged with its error, the rest are counted and reported when the backlog clears.
      if (this.retries.size === 0) {
        logger.error({ err: error, eventUid: uid }, "could not mark event published; retrying");
      }
      this.retryInBackground({ uid, attempts });
    }
  }

  /** Starts published() without waiting for it; close() waits for it. */
  publishedLater(uid: string, attempts: number, logger = this.logger): void {
    const write = this.published(uid, attempts, logger);
    this.unawaited.add(write);
    void write.finally(() => this.unawaited.delete(write));
  }

  /** Marks the event `failed` unless it is no longer `pending`; logs a failed write. */
  async failed(uid: string, error: PublishError, logger = this.logger): Promise<void> {
    try {
      await this.store.markFailed(uid, `${error.code}: ${error.reason}`, error.attempts);
    } catch (writeError) {
      // The event stays pending; the sweep marks it failed after PENDING_TIMEOUT_MS.
      logger.error({ err: writeError, eventUid: uid }, "could not mark event failed");
    }
  }

  /** Waits for background writes to finish, or stops retrying them after `timeoutMs`. */
  async close(timeoutMs: number): Promise<void> {
    const finished = Promise.all(this.unawaited)
      .then(() => Promise.all(this.retries))
      .then(() => true);
    const outcome = await Promise.race([finished, sleep(timeoutMs, false, { ref: false })]);
    this.closing = true;
    if (!outcome) {
      this.logger.error(
        { pendingWrites: this.retries.size },
        "stopped with published events still recorded as pending",
      );
    }
  }

  private retryInBackground(update: PublishedUpdate): void {
    const retry = this.retryUntilWritten(update).then((written) => {
      if (written) this.recoveredWrites++;
    });
    this.retries.add(retry);
    void retry.finally(() => {
      this.retries.delete(retry);
      if (this.retries.size === 0 && this.recoveredWrites > 0) {
        this.logger.info(
          { count: this.recoveredWrites },
          "events marked published after retrying the status write",
        );
        this.recoveredWrites = 0;
      }
    });
  }

  /** Retries until the write succeeds or close() gives up; returns whether it succeeded. */
  private async retryUntilWritten(update: PublishedUpdate): Promise<boolean> {
    for (let retry = 1; !this.closing; retry++) {
      await sleep(STATUS_RETRY(retry));
      try {
        await this.store.markPublished(update.uid, update.attempts);
        return true;
      } catch {
        // Keep retrying until close(); the burst's first failure was logged.
      }
    }
    return false;
  }
}
