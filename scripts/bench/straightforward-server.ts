/**
 * The peer that the service must beat: POST /api/event/{solution}/{model}/{action} written
 * the straightforward way. Each request inserts one row with plain pg, then publishes one
 * confirmed persistent message with rabbitmq-client, then responds 200, with no batching.
 * Started by `npm run bench`; listens on 127.0.0.1:PORT and writes to the `events` table of
 * DATABASE_URL, which the service has migrated.
 */
import express from "express";
import pg from "pg";
import { Connection } from "rabbitmq-client";
import { v7 as uuidv7 } from "uuid";

import { exitWhenStdinCloses } from "./lifeline.js";

const port = Number(process.env.PORT ?? 3000);
const pool = new pg.Pool({ connectionString: process.env.DATABASE_URL, max: 10 });
const broker = new Connection(process.env.RABBITMQ_URL ?? "amqp://guest:guest@127.0.0.1:5672");
broker.on("error", (error) => console.error("RabbitMQ connection error:", error));
const publisher = broker.createPublisher({ confirm: true });
const declaredQueues = new Set<string>();

const INSERT_EVENT = `INSERT INTO events
  (event_uid, event_timestamp, solution, model, action, event_data, status, published_at)
  VALUES ($1, $2, $3, $4, $5, $6, 'published', now())`;

const app = express();
app.use(express.json());
app.post("/api/event/:solution/:model/:action", async (request, response) => {
  const { solution, model, action } = request.params;
  const data: unknown = request.body;
  if (typeof data !== "object" || data === null || Array.isArray(data)) {
    response.status(400).json({ status: "error", message: "The body must be a JSON object." });
    return;
  }
  const queue = `${solution}/${model}/${action}`;
  const eventUid = uuidv7();
  const eventTimestamp = new Date().toISOString();
  await pool.query(INSERT_EVENT, [eventUid, eventTimestamp, solution, model, action, data]);
  try {
    if (!declaredQueues.has(queue)) {
      await broker.queueDeclare({ queue, durable: true });
      declaredQueues.add(queue);
    }
    const envelope = { event_uid: eventUid, event_timestamp: eventTimestamp, event_data: data };
    await publisher.send({ routingKey: queue, durable: true, messageId: eventUid }, envelope);
  } catch (error) {
    await pool.query("UPDATE events SET status = 'failed' WHERE event_uid = $1", [eventUid]);
    throw error;
  }
  response.status(200).json({
    status: "success",
    message: `Event published to queue ${queue}`,
    event_uid: eventUid,
    event_timestamp: eventTimestamp,
  });
});

await broker.onConnect(5000);
app.listen(port, "127.0.0.1");
exitWhenStdinCloses();
