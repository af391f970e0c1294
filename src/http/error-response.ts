import type { Response } from "express";

import {
  BatchNotPublishedError,
  EventNotPublishedError,
  GatewayError,
  HTTP_STATUS,
} from "../errors.js";
import type { components } from "../generated/openapi.js";

export type ErrorBody = components["schemas"]["Error"];

/** Maximum field errors in a response, so a body with thousands of invalid values gets a short one. */
const MAX_FIELD_ERRORS = 100;

/** Length in characters at which a path is cut, because keys can be as long as the body. */
const MAX_PATH_LENGTH = 256;

const INTERNAL_ERROR_MESSAGE =
  "An unexpected error occurred. The logs contain details under this response's X-Request-Id.";

/** Builds the JSON error body for `error`. Only GatewayError messages reach the client. */
export function toErrorBody(error: unknown): ErrorBody {
  if (!(error instanceof GatewayError)) {
    return { status: "error", code: "INTERNAL_ERROR", message: INTERNAL_ERROR_MESSAGE };
  }
  const body: ErrorBody = { status: "error", code: error.code, message: error.message };
  if (error.errors !== undefined && error.errors.length > 0) {
    body.errors = error.errors.slice(0, MAX_FIELD_ERRORS).map(({ path, message }) => ({
      path: path.length > MAX_PATH_LENGTH ? `${path.slice(0, MAX_PATH_LENGTH)}…` : path,
      message,
    }));
  }
  if (error instanceof EventNotPublishedError) {
    body.event_uid = error.eventUid;
    body.event_timestamp = error.eventTimestamp;
  }
  if (error instanceof BatchNotPublishedError) {
    body.events = error.outcomes.map((outcome) => ({
      event_uid: outcome.eventUid,
      event_timestamp: outcome.eventTimestamp,
      status: outcome.error === undefined ? "published" : "failed",
      ...(outcome.error === undefined ? {} : { code: outcome.error.code }),
    }));
  }
  return body;
}

/**
 * Sends `error` as a JSON error response. The request's log line (see request-logging.ts)
 * reports the code, and for server errors the error with its cause.
 */
export function sendError(response: Response, error: unknown): void {
  const body = toErrorBody(error);
  const status = HTTP_STATUS[body.code];
  response.locals.errorCode = body.code;
  if (error instanceof GatewayError && error.retryAfterSeconds !== undefined) {
    response.setHeader("Retry-After", String(error.retryAfterSeconds));
  }
  response.locals.eventUid = body.event_uid;
  if (status >= 500) {
    // The request log line (request-logging.ts) carries `res.err` as the request's error.
    response.err = error instanceof Error ? error : new Error(String(error));
  }
  response.status(status).json(body);
}
