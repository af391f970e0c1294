import { expect } from "chai";
import sinon from "sinon";

import { exponentialBackoff } from "../../../src/messaging/retry-policy.js";

/** The largest double below 1. */
const JUST_BELOW_ONE = 1 - Number.EPSILON / 2;

function delaysFor(attempts: number[], random: () => number): number[] {
  const policy = exponentialBackoff({ initialMs: 100, maxMs: 1000, random });
  return attempts.map(policy);
}

describe("exponentialBackoff", () => {
  afterEach(() => {
    sinon.restore();
  });

  it("exponentialBackoff doubles the ceiling per attempt up to maxMs", () => {
    expect(delaysFor([1, 2, 3, 4, 5, 6, 20], () => 0.5)).to.deep.equal([
      50, 100, 200, 400, 500, 500, 500,
    ]);
  });

  it("exponentialBackoff returns 0 when random returns 0", () => {
    expect(delaysFor([1, 2, 5, 20], () => 0)).to.deep.equal([0, 0, 0, 0]);
  });

  it("exponentialBackoff stays below the ceiling", () => {
    expect(delaysFor([1, 2, 3, 4, 5, 20], () => JUST_BELOW_ONE)).to.deep.equal([
      99, 199, 399, 799, 999, 999,
    ]);
  });

  it("exponentialBackoff caps a ceiling that overflows to Infinity", () => {
    expect(delaysFor([2000], () => 0.5)).to.deep.equal([500]);
  });

  it("exponentialBackoff draws a new random number for each delay", () => {
    const draws = [0.1, 0.9];
    const delays = delaysFor([1, 1], () => draws.shift() ?? 0);

    expect(delays).to.deep.equal([10, 90]);
  });

  it("exponentialBackoff uses Math.random by default", () => {
    sinon.stub(Math, "random").returns(0.25);
    const policy = exponentialBackoff({ initialMs: 100, maxMs: 1000 });

    expect(policy(2)).to.equal(50);
  });
});
