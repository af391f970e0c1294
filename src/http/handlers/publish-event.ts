import type { Request, Response } from "express";
import type { Context } from "openapi-backend";

import { RequestError } from "../../errors.js";
import { type EventRoute, queueName } from "../../events/event.js";
import { compactJsonCountingKeys, findInvalidEventData } from "../../events/event-data.js";
import type { EventIngestion } from "../../events/ingestion.js";
import type { components } from "../../generated/openapi.js";
import type { OperationHandler } from "../api.js";
import { requestBodyOf } from "../request-body.js";

type PublishEventResponse = components["schemas"]["PublishEventResponse"];

/** POST /api/event/{solution}/{model}/{action}: store one event and publish it. */
export function publishEvent(ingestion: EventIngestion): OperationHandler {
  return async (context: Context, request: Request, response: Response) => {
    const route = context.request.params as unknown as EventRoute;
    const body = requestBodyOf(response);

    const compacted = compactJsonCountingKeys(body.text);
    const problems = findInvalidEventData(body.value, compacted);
    if (problems.length > 0) {
      throw new RequestError(
        "INVALID_BODY",
        "The event data contains values that cannot be stored.",
        {
          errors: problems,
        },
      );
    }

    const idempotencyKey = singleIdempotencyKey(request);
    const event = await ingestion.ingest(
      { route, dataJson: compacted.text, idempotencyKey },
      request.log,
    );

    response.locals.eventUid = event.uid;
    const result: PublishEventResponse = {
      status: "success",
      message: `Event published to queue ${queueName(route)}`,
      event_uid: event.uid,
      event_timestamp: event.timestamp,
    };
    response.status(200).json(result);
  };
}

/**
 * Returns the Idempotency-Key header. Node joins repeated headers with ", ", which would
 * turn two keys into a third, so a repeated header is rejected.
 */
function singleIdempotencyKey(request: Request): string | undefined {
  const values = request.headersDistinct["idempotency-key"];
  if (values === undefined) return undefined;
  if (values.length > 1) {
    throw new RequestError("INVALID_PARAMETER", "Send the Idempotency-Key header once.", {
      errors: [{ path: "/header/idempotency-key", message: "must appear only once" }],
    });
  }
  return values[0];
}
