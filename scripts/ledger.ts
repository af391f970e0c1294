/**
 * Sends a steady stream of events for about 20 s while the broker is stopped and started
 * and the broker and database connections are cut, then checks every response against the
 * queue and the table and prints the counts. Lost and doubled must be 0.
 *
 *   npm run ledger -- [--seconds 20] [--clients 8]
 *
 * It uses TEST_DATABASE_URL and TEST_RABBITMQ_URL like the tests, stops RabbitMQ with
 * rabbitmqctl, and so must run on the broker's machine, with no other work on the broker.
 */
import { parseArgs } from "node:util";

import { runLedger } from "../test/support/ledger.js";

const { values } = parseArgs({
  options: {
    seconds: { type: "string", default: "20" },
    clients: { type: "string", default: "8" },
  },
});
const seconds = Number(values.seconds);
const clients = Number(values.clients);
if (!Number.isInteger(seconds) || seconds < 5 || !Number.isInteger(clients) || clients < 1) {
  console.error("--seconds must be an integer of at least 5, --clients a positive integer.");
  process.exit(2);
}

const report = await runLedger({
  durationMs: seconds * 1000,
  clients,
  onProgress: (line) => console.error(line),
});
console.log(JSON.stringify(report, null, 2));
const clean = report.lost === 0 && report.doubled === 0 && report.unexpected === 0;
process.exit(clean && report.pendingRows === 0 && report.orphanMessages === 0 ? 0 : 1);
