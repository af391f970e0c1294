/**
 * The broker ceiling: publishes confirmed persistent messages of the service's size to one
 * durable queue through rabbitmq-client, keeping a fixed number of publishes in flight.
 * After a warm-up it measures for the given time and prints one JSON line on stdout:
 * {"inFlight", "seconds", "confirmed", "failed", "messagesPerSecond"}.
 *
 *   node --import tsx scripts/bench/broker-ceiling.ts --queue Q --in-flight N
 *     [--seconds 10] [--warmup-seconds 5]
 *
 * It publishes to RABBITMQ_URL (default amqp://guest:guest@127.0.0.1:5672) and leaves the
 * messages in the queue, for the caller to purge.
 */
import { parseArgs } from "node:util";

import { Connection, type Envelope } from "rabbitmq-client";

import { exitWhenStdinCloses } from "./lifeline.js";
import { benchRoute, sampleEnvelope } from "./workload.js";

const { values } = parseArgs({
  options: {
    queue: { type: "string" },
    "in-flight": { type: "string" },
    seconds: { type: "string", default: "10" },
    "warmup-seconds": { type: "string", default: "5" },
  },
});
const queue = values.queue ?? "";
const inFlight = Number(values["in-flight"]);
const seconds = Number(values.seconds);
const warmupSeconds = Number(values["warmup-seconds"]);
if (queue === "" || !(inFlight >= 1) || !(seconds > 0) || !(warmupSeconds >= 0)) {
  console.error(
    "Usage: broker-ceiling.ts --queue Q --in-flight N [--seconds S] [--warmup-seconds S]",
  );
  process.exit(2);
}
exitWhenStdinCloses();

const connection = new Connection({
  url: process.env.RABBITMQ_URL ?? "amqp://guest:guest@127.0.0.1:5672",
  connectionName: "event-gateway-bench-broker-ceiling",
  // The service sets it too: publishes wait for confirms, so Nagle's algorithm only adds latency.
  noDelay: true,
});
connection.on("error", (error) => console.error("RabbitMQ connection error:", error));
await connection.onConnect(5000);
await connection.queueDeclare({ queue, durable: true });
const publisher = connection.createPublisher({ confirm: true, maxAttempts: 1 });

const body = sampleEnvelope(benchRoute("ceiling", "broker"));
let sequence = 0;

/** Builds an envelope with the service's properties, so that each frame has the service's size. */
function nextEnvelope(): Envelope {
  sequence += 1;
  return {
    exchange: "",
    routingKey: queue,
    mandatory: true,
    durable: true,
    contentType: "application/json",
    messageId: String(sequence),
    type: "bench.order.created",
    timestamp: Math.floor(Date.now() / 1000),
    appId: "event-gateway",
  };
}

/** Publishes with `inFlight` concurrent loops until `durationMs` has passed. */
async function publishFor(durationMs: number): Promise<{ confirmed: number; failed: number }> {
  const counts = { confirmed: 0, failed: 0 };
  const end = Date.now() + durationMs;
  const loop = async () => {
    while (Date.now() < end) {
      try {
        await publisher.send(nextEnvelope(), body);
        counts.confirmed += 1;
      } catch (error) {
        if (counts.failed === 0) console.error("publish failed:", error);
        counts.failed += 1;
      }
    }
  };
  await Promise.all(Array.from({ length: inFlight }, loop));
  return counts;
}

await publishFor(warmupSeconds * 1000);
const started = performance.now();
const { confirmed, failed } = await publishFor(seconds * 1000);
const elapsedSeconds = (performance.now() - started) / 1000;
console.log(
  JSON.stringify({
    inFlight,
    seconds: elapsedSeconds,
    confirmed,
    failed,
    messagesPerSecond: confirmed / elapsedSeconds,
  }),
);
await publisher.close();
await connection.close();
process.exit(0);
