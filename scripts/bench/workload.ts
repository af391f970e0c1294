/** The benchmark's load: routes, request bodies, and a message of the size the service publishes. */
import { createEvent, type EventRoute, serializeEnvelope } from "../../src/events/event.js";

/** Events in one request to the batch endpoint. */
export const BATCH_SIZE = 100;

/** Distinct bodies per phase: enough to vary `order_id`, built once, so they cost no CPU. */
const SINGLE_BODY_VARIANTS = 100;
const BATCH_BODY_VARIANTS = 10;

/** Returns a small order event of the kind producers send. */
export function orderEvent(orderId: number): Record<string, unknown> {
  return { order_id: orderId, customer: "John Doe", total_amount: 250 };
}

export function singleEventBodies(): string[] {
  return Array.from({ length: SINGLE_BODY_VARIANTS }, (_, index) =>
    JSON.stringify(orderEvent(12345 + index)),
  );
}

export function batchBodies(): string[] {
  return Array.from({ length: BATCH_BODY_VARIANTS }, (_, variant) =>
    JSON.stringify(
      Array.from({ length: BATCH_SIZE }, (_, index) =>
        orderEvent(10_000 + variant * BATCH_SIZE + index),
      ),
    ),
  );
}

/**
 * Returns a route of its own for one server of one run. Its queue name starts with `bench-`, so
 * that queues a run leaves behind are recognizable.
 */
export function benchRoute(runId: string, server: string): EventRoute {
  return { solution: `bench-${runId}-${server}`, model: "order", action: "created" };
}

export function routePath(route: EventRoute): string {
  return `/api/event/${route.solution}/${route.model}/${route.action}`;
}

/** Builds a message body of the size the service publishes for one event of singleEventBodies(). */
export function sampleEnvelope(route: EventRoute): Buffer {
  return serializeEnvelope(createEvent(route, JSON.stringify(orderEvent(12345))));
}
