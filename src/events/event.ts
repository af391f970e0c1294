import { createHash } from "node:crypto";

import { v7 as uuidv7 } from "uuid";

/** The three path segments that name an event's kind and its queue. */
export interface EventRoute {
  readonly solution: string;
  readonly model: string;
  readonly action: string;
}

/** An event with its gateway-assigned id and time, ready to be stored and published. */
export interface NewEvent {
  /** UUID version 7, so ids sort by creation time and inserts stay local in the index. */
  readonly uid: string;
  /** RFC 3339 in UTC with milliseconds, such as 2026-12-04T15:27:47.203Z. */
  readonly timestamp: string;
  readonly route: EventRoute;
  /** The event data as compact JSON text, exactly as the producer's numbers were written. */
  readonly dataJson: string;
}

/** Assigns a new id and timestamp to `dataJson`. Both are taken from the same clock reading. */
export function createEvent(route: EventRoute, dataJson: string, now = Date.now()): NewEvent {
  return {
    uid: uuidv7({ msecs: now }),
    timestamp: new Date(now).toISOString(),
    route,
    dataJson,
  };
}

/** Returns the RabbitMQ queue that receives events of `route`: `{solution}/{model}/{action}`. */
export function queueName(route: EventRoute): string {
  return `${route.solution}/${route.model}/${route.action}`;
}

/** Returns the AMQP `type` property of messages for `route`: `{solution}.{model}.{action}`. */
export function messageType(route: EventRoute): string {
  return `${route.solution}.${route.model}.${route.action}`;
}

/**
 * Serializes the message body `{event_uid, event_timestamp, event_data}`. The event data
 * is spliced in as text so that numbers keep every digit; uid and timestamp need no escaping.
 */
export function serializeEnvelope(event: NewEvent): Buffer {
  const head = `{"event_uid":"${event.uid}","event_timestamp":"${event.timestamp}","event_data":`;
  return Buffer.from(`${head}${event.dataJson}}`, "utf8");
}

/**
 * Hashes what identifies a request for its Idempotency-Key: the route and the compact data.
 * Whitespace between tokens does not change the hash; key order and number spelling do.
 */
export function hashRequest(route: EventRoute, dataJson: string): string {
  return createHash("sha256")
    .update(`${queueName(route)}\n${dataJson}`)
    .digest("hex");
}
