import { expect } from "chai";

import {
  DatabaseError,
  EventNotPublishedError,
  HTTP_STATUS,
  PublishError,
  RequestError,
} from "../../../src/errors.js";
import { createApi } from "../../../src/http/api.js";
import { toErrorBody } from "../../../src/http/error-response.js";

const INTERNAL_ERROR_MESSAGE =
  "An unexpected error occurred. The logs contain details under this response's X-Request-Id.";

const EVENT_UID = "019ae9c1-7c2b-7000-8000-000000000001";
const EVENT_TIMESTAMP = "2026-12-04T15:27:47.203Z";

/** Reads the values of the ErrorCode enum from the OpenAPI document. */
async function errorCodesOfContract(): Promise<string[]> {
  const unused = () => undefined;
  const api = await createApi({
    publishEvent: unused,
    publishEventBatch: unused,
    getHealth: unused,
    getReadiness: unused,
  });
  const schema = api.definition.components?.schemas?.ErrorCode as { enum?: string[] } | undefined;
  expect(schema?.enum, "ErrorCode enum in openapi/openapi.yaml").to.be.an("array");
  return schema?.enum ?? [];
}

describe("toErrorBody", () => {
  it("toErrorBody copies a RequestError's field errors", () => {
    const error = new RequestError("INVALID_BODY", "The request body is invalid.", {
      errors: [{ path: "/body/a", message: "must be string" }],
    });

    expect(toErrorBody(error)).to.deep.equal({
      status: "error",
      code: "INVALID_BODY",
      message: "The request body is invalid.",
      errors: [{ path: "/body/a", message: "must be string" }],
    });
  });

  it("toErrorBody leaves out an empty list of field errors", () => {
    const error = new RequestError("NOT_FOUND", "No route.", { errors: [] });

    expect(toErrorBody(error)).to.deep.equal({
      status: "error",
      code: "NOT_FOUND",
      message: "No route.",
    });
  });

  it("toErrorBody cuts long paths and long lists", () => {
    const errors = Array.from({ length: 150 }, (_, index) => ({
      path: `/body/${"k".repeat(300)}/${index}`,
      message: "contains U+0000, which PostgreSQL cannot store",
    }));

    const body = toErrorBody(new RequestError("INVALID_BODY", "invalid", { errors }));

    expect(body.errors).to.have.length(100);
    expect(body.errors?.[0]?.path).to.equal(`/body/${"k".repeat(250)}…`);
  });

  it("toErrorBody hides a DatabaseError's cause", () => {
    const cause = new Error('connect ECONNREFUSED 10.0.0.5:5432 password "hunter2"');
    const error = new DatabaseError("storing the event", cause);

    const body = toErrorBody(error);

    expect(body).to.deep.equal({
      status: "error",
      code: "DATABASE_UNAVAILABLE",
      message: "The database failed while storing the event. Nothing was published; retry later.",
    });
    expect(JSON.stringify(body)).not.to.include(cause.message);
  });

  it("toErrorBody adds the unpublished event's uid", () => {
    const cause = new PublishError("BROKER_UNAVAILABLE", "broker channel unavailable", 3);
    const error = new EventNotPublishedError(EVENT_UID, EVENT_TIMESTAMP, cause);

    expect(toErrorBody(error)).to.deep.equal({
      status: "error",
      code: "BROKER_UNAVAILABLE",
      message:
        "The event was stored but not published because the message broker is unavailable " +
        "(broker channel unavailable). It is recorded with status failed. Retry later.",
      event_uid: EVENT_UID,
      event_timestamp: EVENT_TIMESTAMP,
    });
  });

  it("toErrorBody takes the code from the PublishError", () => {
    const cause = new PublishError("BROKER_UNCONFIRMED", "no confirm before the deadline", 1);
    const error = new EventNotPublishedError(EVENT_UID, EVENT_TIMESTAMP, cause);

    expect(toErrorBody(error)).to.deep.equal({
      status: "error",
      code: "BROKER_UNCONFIRMED",
      message:
        "The event was stored and sent to the message broker, but the broker did not confirm " +
        "it (no confirm before the deadline). It may have been delivered; it is recorded with " +
        "status failed. Consumers can deduplicate by message_id, which is the event_uid.",
      event_uid: EVENT_UID,
      event_timestamp: EVENT_TIMESTAMP,
    });
  });

  it("toErrorBody hides the message of an unexpected Error", () => {
    const body = toErrorBody(new TypeError("Cannot read properties of undefined (reading 'x')"));

    expect(body).to.deep.equal({
      status: "error",
      code: "INTERNAL_ERROR",
      message: INTERNAL_ERROR_MESSAGE,
    });
  });

  it("toErrorBody treats a thrown non-Error as an internal error", () => {
    expect(toErrorBody("connection string postgres://user:pw@db")).to.deep.equal({
      status: "error",
      code: "INTERNAL_ERROR",
      message: INTERNAL_ERROR_MESSAGE,
    });
  });
});

describe("HTTP_STATUS", () => {
  it("HTTP_STATUS covers every OpenAPI error code", async () => {
    const codes = await errorCodesOfContract();

    expect(Object.keys(HTTP_STATUS).sort()).to.deep.equal([...codes].sort());
  });

  it("HTTP_STATUS matches the documented statuses", () => {
    expect(HTTP_STATUS).to.deep.equal({
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
  });
});
