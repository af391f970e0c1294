/**
 * The errors that reach clients. Each has a stable `code` from the OpenAPI document;
 * HTTP_STATUS below is the only place that maps codes to HTTP statuses.
 */
import type { components } from "./generated/openapi.js";

export type ErrorCode = components["schemas"]["ErrorCode"];
export type FieldError = components["schemas"]["FieldError"];

export const HTTP_STATUS: Readonly<Record<ErrorCode, number>> = Object.freeze({
  INVALID_PATH_SEGMENT: 400,
  INVALID_JSON: 400,
  INVALID_BODY: 400,
  INVALID_PARAMETER: 400,
  MALFORMED_REQUEST: 400,
  NOT_FOUND: 404,
  METHOD_NOT_ALLOWED: 405,
  REQUEST_TIMEOUT: 408,
  IDEMPOTENCY_KEY_IN_USE: 409,
  PAYLOAD_TOO_LARGE: 413,
  UNSUPPORTED_MEDIA_TYPE: 415,
  IDEMPOTENCY_KEY_REUSED: 422,
  HEADERS_TOO_LARGE: 431,
  DATABASE_UNAVAILABLE: 500,
  BROKER_UNAVAILABLE: 500,
  BROKER_UNCONFIRMED: 500,
  INTERNAL_ERROR: 500,
});

interface GatewayErrorOptions {
  cause?: unknown;
  errors?: readonly FieldError[];
  /** Sent as the Retry-After header, in seconds. */
  retryAfterSeconds?: number;
}

/** Base class of every error with a client-facing code. `message` is safe to show clients. */
export class GatewayError extends Error {
  override readonly name: string = "GatewayError";
  readonly errors: readonly FieldError[] | undefined;
  readonly retryAfterSeconds: number | undefined;

  constructor(
    readonly code: ErrorCode,
    message: string,
    options: GatewayErrorOptions = {},
  ) {
    super(message, { cause: options.cause });
    this.errors = options.errors;
    this.retryAfterSeconds = options.retryAfterSeconds;
  }

  get status(): number {
    return HTTP_STATUS[this.code];
  }
}

/** The request is invalid: fixing it is up to the client, and retrying it unchanged fails again. */
export class RequestError extends GatewayError {
  override readonly name = "RequestError";
}

/** PostgreSQL failed or was unreachable; nothing was stored. */
export class DatabaseError extends GatewayError {
  override readonly name = "DatabaseError";

  constructor(operation: string, cause: unknown) {
    super(
      "DATABASE_UNAVAILABLE",
      `The database failed while ${operation}. Nothing was published; retry later.`,
      { cause },
    );
  }
}

/**
 * RabbitMQ did not confirm a message. With BROKER_UNAVAILABLE the message never reached
 * the broker. With BROKER_UNCONFIRMED it was sent but no confirm arrived, so the broker
 * may or may not hold it.
 */
export class PublishError extends GatewayError {
  override readonly name = "PublishError";

  constructor(
    code: "BROKER_UNAVAILABLE" | "BROKER_UNCONFIRMED",
    readonly reason: string,
    readonly attempts: number,
    cause?: unknown,
  ) {
    super(code, reason, { cause });
  }
}

/** One element of a batch: its event and, when it was not published, why. */
export interface BatchOutcome {
  readonly eventUid: string;
  readonly eventTimestamp: string;
  readonly error?: EventNotPublishedError | undefined;
}

/** A batch that was stored, but of which some events were not published. */
export class BatchNotPublishedError extends GatewayError {
  override readonly name = "BatchNotPublishedError";

  constructor(readonly outcomes: readonly BatchOutcome[]) {
    const failed = outcomes.filter((outcome) => outcome.error !== undefined);
    const unconfirmed = failed.some((outcome) => outcome.error?.code === "BROKER_UNCONFIRMED");
    super(
      unconfirmed ? "BROKER_UNCONFIRMED" : "BROKER_UNAVAILABLE",
      `${failed.length} of ${outcomes.length} events were stored but not published, and are ` +
        "recorded with status failed; `events` gives each one's outcome. Retry the failed " +
        "ones later.",
    );
  }
}

/** An event that is stored with status `failed` because publishing it failed. */
export class EventNotPublishedError extends GatewayError {
  override readonly name = "EventNotPublishedError";

  constructor(
    readonly eventUid: string,
    readonly eventTimestamp: string,
    cause: PublishError,
  ) {
    super(cause.code, describeUnpublished(cause), { cause });
  }
}

function describeUnpublished(cause: PublishError): string {
  if (cause.code === "BROKER_UNCONFIRMED") {
    return (
      `The event was stored and sent to the message broker, but the broker did not confirm it ` +
      `(${cause.reason}). It may have been delivered; it is recorded with status failed. ` +
      `Consumers can deduplicate by message_id, which is the event_uid.`
    );
  }
  return (
    `The event was stored but not published because the message broker is unavailable ` +
    `(${cause.reason}). It is recorded with status failed. Retry later.`
  );
}
