import { setImmediate as nextTurn } from "node:timers/promises";

import { expect } from "chai";

import { Batcher, type ItemOutcome } from "../../../src/persistence/batcher.js";

/** A write function that records its batches and finishes when the test calls its finisher. */
function controlledWrite() {
  const batches: number[][] = [];
  const finishers: ((outcomes?: ItemOutcome[]) => void)[] = [];
  const write = (items: readonly number[]) => {
    batches.push([...items]);
    return new Promise<ItemOutcome[]>((resolve) => {
      finishers.push((outcomes) => resolve(outcomes ?? items.map(() => undefined)));
    });
  };
  return { batches, finishers, write };
}

describe("Batcher", () => {
  it("Batcher writes items submitted in one turn as one batch", async () => {
    const { batches, finishers, write } = controlledWrite();
    const batcher = new Batcher(write, { maxBatchSize: 10, maxConcurrentWrites: 1 });

    const submitted = [1, 2, 3].map((item) => batcher.submit(item));
    await nextTurn();
    finishers[0]?.();
    await Promise.all(submitted);

    expect(batches).to.deep.equal([[1, 2, 3]]);
  });

  it("Batcher gathers items that arrive during a write into the next batch", async () => {
    const { batches, finishers, write } = controlledWrite();
    const batcher = new Batcher(write, { maxBatchSize: 10, maxConcurrentWrites: 1 });

    const first = batcher.submit(1);
    await nextTurn();
    const later = [2, 3, 4].map((item) => batcher.submit(item));
    await nextTurn();
    expect(batches).to.deep.equal([[1]]);
    finishers[0]?.();
    await first;
    while (finishers.length < 2) await nextTurn();
    finishers[1]?.();
    await Promise.all(later);

    expect(batches).to.deep.equal([[1], [2, 3, 4]]);
  });

  it("Batcher runs up to maxConcurrentWrites writes at once", async () => {
    const { batches, write } = controlledWrite();
    const batcher = new Batcher(write, { maxBatchSize: 1, maxConcurrentWrites: 2 });

    for (const item of [1, 2, 3]) void batcher.submit(item);
    await nextTurn();
    await nextTurn();

    expect(batches).to.deep.equal([[1], [2]]);
  });

  it("Batcher splits batches at maxBatchSize", async () => {
    const { batches, finishers, write } = controlledWrite();
    const batcher = new Batcher(write, { maxBatchSize: 2, maxConcurrentWrites: 5 });

    const submitted = [1, 2, 3, 4, 5].map((item) => batcher.submit(item));
    for (let turn = 0; turn < 4; turn++) await nextTurn();
    for (const finish of finishers) finish();
    await Promise.all(submitted);

    expect(batches).to.deep.equal([[1, 2], [3, 4], [5]]);
  });

  it("Batcher settles each item with its own outcome", async () => {
    const failure = new Error("row 2 failed");
    const batcher = new Batcher(
      async (items: readonly number[]) => items.map((item) => (item === 2 ? failure : undefined)),
      { maxBatchSize: 10, maxConcurrentWrites: 1 },
    );

    const outcomes = await Promise.allSettled([1, 2, 3].map((item) => batcher.submit(item)));

    expect(outcomes.map((outcome) => outcome.status)).to.deep.equal([
      "fulfilled",
      "rejected",
      "fulfilled",
    ]);
    expect((outcomes[1] as PromiseRejectedResult).reason).to.equal(failure);
  });

  it("Batcher rejects every item of a batch whose write rejects", async () => {
    const failure = new Error("connection lost");
    const batcher = new Batcher(async () => Promise.reject(failure), {
      maxBatchSize: 10,
      maxConcurrentWrites: 1,
    });

    const outcomes = await Promise.allSettled([1, 2].map((item) => batcher.submit(item)));

    expect(outcomes.map((outcome) => (outcome as PromiseRejectedResult).reason)).to.deep.equal([
      failure,
      failure,
    ]);
  });

  it("Batcher rejects a batch whose write returns too few outcomes", async () => {
    const batcher = new Batcher(async () => [undefined], {
      maxBatchSize: 10,
      maxConcurrentWrites: 1,
    });

    const outcomes = await Promise.allSettled([1, 2].map((item) => batcher.submit(item)));

    expect(outcomes.map((outcome) => outcome.status)).to.deep.equal(["rejected", "rejected"]);
  });
});
