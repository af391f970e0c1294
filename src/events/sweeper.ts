import type { Logger } from "../logger.js";
import type { EventStore } from "../persistence/event-store.js";

export interface SweeperOptions {
  /** Age in ms after which a `pending` event counts as abandoned. */
  readonly pendingTimeoutMs: number;
  /** Interval in ms between sweeps. */
  readonly intervalMs: number;
  /** Minimum age in hours of the idempotency keys that a sweep deletes. */
  readonly keyRetentionHours: number;
}

export interface SweepResult {
  readonly failedEventUids: readonly string[];
  readonly deletedKeys: number;
}

/** At most this many ids are logged per sweep; the count is always logged. */
const MAX_LOGGED_UIDS = 20;

/**
 * Gives every stored event a final state. A request that ends without recording an
 * outcome leaves its event `pending`, for instance when its process was killed or the
 * database failed as it wrote the outcome. The sweep marks such events `failed` once they
 * are older than the pending timeout. It also deletes idempotency keys past their retention. It runs at
 * start and then at every interval; several instances may sweep at once.
 */
export class Sweeper {
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<unknown> | undefined;
  private failuresInARow = 0;
  private stopped = false;

  constructor(
    private readonly store: EventStore,
    private readonly options: SweeperOptions,
    private readonly logger: Logger,
  ) {}

  /** Runs one sweep now, schedules the next ones, and resolves when the first is done. */
  async start(): Promise<void> {
    this.running = this.sweepAndLog();
    await this.running;
    if (!this.stopped) this.schedule(this.options.intervalMs);
  }

  /** Cancels the next sweep and waits for the one in progress. */
  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.timer);
    this.timer = undefined;
    await this.running;
  }

  /** Runs one sweep and returns what it changed. Throws the database's error. */
  async sweep(now = Date.now()): Promise<SweepResult> {
    const pendingCutoff = new Date(now - this.options.pendingTimeoutMs);
    const lastError =
      `ABANDONED: still pending after ${this.options.pendingTimeoutMs} ms; the request ` +
      "ended without recording an outcome, probably because its process stopped";
    const failedEventUids = await this.store.failAbandoned(pendingCutoff, lastError);

    const keyCutoff = new Date(now - this.options.keyRetentionHours * 3_600_000);
    const deletedKeys = await this.store.deleteKeysCreatedBefore(keyCutoff);
    return { failedEventUids, deletedKeys };
  }

  private schedule(delayMs: number): void {
    this.timer = setTimeout(() => {
      this.running = this.sweepAndLog().finally(() => {
        if (!this.stopped) this.schedule(this.options.intervalMs);
      });
    }, delayMs);
    // A pending sweep must not keep the process alive once everything else has closed.
    this.timer.unref();
  }

  private async sweepAndLog(): Promise<void> {
    try {
      const result = await this.sweep();
      if (this.failuresInARow > 0) {
        this.logger.info({ failedSweeps: this.failuresInARow }, "sweep succeeded again");
        this.failuresInARow = 0;
      }
      if (result.failedEventUids.length > 0) {
        this.logger.warn(
          {
            count: result.failedEventUids.length,
            eventUids: result.failedEventUids.slice(0, MAX_LOGGED_UIDS),
          },
          "marked abandoned pending events failed",
        );
      }
      if (result.deletedKeys > 0) {
        this.logger.info({ count: result.deletedKeys }, "deleted expired idempotency keys");
      }
    } catch (error) {
      // A database outage fails every sweep; the first failure is enough in the log.
      if (this.failuresInARow === 0) this.logger.error({ err: error }, "sweep failed");
      this.failuresInARow++;
    }
  }
}
