/**
 * Outcome of one item of a batch: undefined when it succeeded, otherwise its error.
 */
export type ItemOutcome = unknown | undefined;

export interface BatcherOptions {
  /** Maximum items written by one call of `write`. */
  readonly maxBatchSize: number;
  /** Maximum calls of `write` in progress at once; further items wait and join a batch. */
  readonly maxConcurrentWrites: number;
}

interface Pending<T> {
  readonly item: T;
  readonly resolve: () => void;
  readonly reject: (error: unknown) => void;
}

/**
 * Coalesces items submitted by concurrent requests into batches, as databases do with
 * group commit. A batch starts on the next turn of the event loop, so items submitted in
 * the same turn share it. While `maxConcurrentWrites` batches are in progress, new items
 * wait and form the next batch, so batches grow with the load and stay small, with little
 * added latency, when the load is light. Each submitter learns its own item's outcome.
 */
export class Batcher<T> {
  private queue: Pending<T>[] = [];
  private writesInProgress = 0;
  private scheduled = false;

  /**
   * @param write Writes a batch. It resolves with one outcome per item, in order, or
   *   rejects, which fails every item of the batch with that error.
   */
  constructor(
    private readonly write: (items: readonly T[]) => Promise<readonly ItemOutcome[]>,
    private readonly options: BatcherOptions,
  ) {}

  /** Resolves once the batch that contains `item` is written, or rejects with its error. */
  submit(item: T): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      this.queue.push({ item, resolve, reject });
      this.schedule();
    });
  }

  private schedule(): void {
    if (this.scheduled || this.writesInProgress >= this.options.maxConcurrentWrites) return;
    this.scheduled = true;
    setImmediate(() => {
      this.scheduled = false;
      this.startWrite();
    });
  }

  private startWrite(): void {
    if (this.queue.length === 0 || this.writesInProgress >= this.options.maxConcurrentWrites) {
      return;
    }
    const batch = this.queue.splice(0, this.options.maxBatchSize);
    this.writesInProgress++;
    this.write(batch.map((pending) => pending.item))
      .then(
        (outcomes) => settleEach(batch, outcomes),
        (error: unknown) => {
          for (const pending of batch) pending.reject(error);
        },
      )
      .finally(() => {
        this.writesInProgress--;
        if (this.queue.length > 0) this.schedule();
      });
    if (this.queue.length > 0) this.schedule();
  }
}

function settleEach<T>(batch: readonly Pending<T>[], outcomes: readonly ItemOutcome[]): void {
  if (outcomes.length !== batch.length) {
    const error = new Error(
      `batch write returned ${outcomes.length} outcomes for ${batch.length} items`,
    );
    for (const pending of batch) pending.reject(error);
    return;
  }
  batch.forEach((pending, index) => {
    const outcome = outcomes[index];
    if (outcome === undefined) pending.resolve();
    else pending.reject(outcome);
  });
}
