import type { Request, Response } from "express";
import type { Context } from "openapi-backend";

import { BatchNotPublishedError, type FieldError, RequestError } from "../../errors.js";
import { type EventRoute, queueName } from "../../events/event.js";
import {
  compactJson,
  compactJsonCountingKeys,
  findInvalidEventData,
  splitJsonArray,
} from "../../events/event-data.js";
import type { EventIngestion } from "../../events/ingestion.js";
import type { components } from "../../generated/openapi.js";
import type { OperationHandler } from "../api.js";
import { requestBodyOf } from "../request-body.js";

type PublishEventBatchResponse = components["schemas"]["PublishEventBatchResponse"];

/**
 * POST /api/event/{solution}/{model}/{action}/batch: store a batch of events in one
 * statement and publish each. openapi-backend has checked that the body is a non-empty
 * array of non-empty objects, and app.ts that it has at most BATCH_MAX_EVENTS.
 */
export function publishEventBatch(ingestion: EventIngestion): OperationHandler {
  return async (context: Context, request: Request, response: Response) => {
    const route = context.request.params as unknown as EventRoute;
    rejectIdempotencyKey(request);
    const body = requestBodyOf(response);
    const items = body.value as unknown[];

    const dataJsons = splitJsonArray(compactJson(body.text));
    checkEventData(items, dataJsons);
    const results = await ingestion.ingestBatch(route, dataJsons, request.log);

    const outcomes = results.map(({ event, error }) => ({
      eventUid: event.uid,
      eventTimestamp: event.timestamp,
      error,
    }));
    if (outcomes.some((outcome) => outcome.error !== undefined)) {
      throw new BatchNotPublishedError(outcomes);
    }
    const result: PublishEventBatchResponse = {
      status: "success",
      message: `${results.length} events published to queue ${queueName(route)}`,
      events: outcomes.map((outcome) => ({
        event_uid: outcome.eventUid,
        event_timestamp: outcome.eventTimestamp,
        status: "published",
      })),
    };
    response.status(200).json(result);
  };
}

/**
 * Rejects the Idempotency-Key header, which this route does not support: ignoring it would
 * let a client that retries with it store and publish the batch twice.
 */
function rejectIdempotencyKey(request: Request): void {
  if (request.get("idempotency-key") === undefined) return;
  throw new RequestError(
    "INVALID_PARAMETER",
    "Idempotency-Key is not supported on the batch route. Send keyed events one at a time.",
    { errors: [{ path: "/header/idempotency-key", message: "is not supported on this route" }] },
  );
}

/** Throws RequestError listing the invalid data of every element, if any. */
function checkEventData(items: readonly unknown[], dataJsons: readonly string[]): void {
  const problems: FieldError[] = [];
  items.forEach((item, index) => {
    const compacted = compactJsonCountingKeys(dataJsons[index] ?? "");
    problems.push(...findInvalidEventData(item, compacted, `/body/${index}`));
  });
  if (problems.length > 0) {
    throw new RequestError(
      "INVALID_BODY",
      "Events of the batch contain values that cannot be stored; nothing was stored.",
      { errors: problems },
    );
  }
}
