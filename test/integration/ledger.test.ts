import { expect } from "chai";

import { runLedger } from "../support/ledger.js";

describe("the ledger under broker and database faults", function () {
  this.timeout(120_000);

  it("loses and doubles nothing, and leaves every row in a final state", async () => {
    const report = await runLedger({ durationMs: 20_000, clients: 8 });

    expect(report.sent).to.be.above(100);
    expect(report.ok).to.be.above(0);
    expect(report.unexpected, "responses other than 200 and 500").to.equal(0);
    expect(report.lost, "200s without exactly one message and a published row").to.equal(0);
    expect(report.doubled, "events with more than one message").to.equal(0);
    expect(report.failedButQueued, "500s other than BROKER_UNCONFIRMED in the queue").to.equal(0);
    expect(report.pendingRows, "rows still pending").to.equal(0);
    expect(report.orphanMessages, "messages without a row").to.equal(0);
    // Only an unconfirmed send can leave a failed row whose message the broker took.
    expect(report.statusMismatches).to.equal(report.unconfirmedButQueued);
  });
});
