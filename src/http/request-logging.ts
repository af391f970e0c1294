import { randomUUID } from "node:crypto";
import type { IncomingMessage, ServerResponse } from "node:http";

import type { LevelWithSilent } from "pino";
import { type HttpLogger, pinoHttp } from "pino-http";

import type { Logger } from "../logger.js";

/** A client's X-Request-Id is used as given when it is 1 to 128 visible ASCII characters. */
const VALID_REQUEST_ID = /^[\x21-\x7e]{1,128}$/;

/** Paths of the liveness and readiness probes, which orchestrators poll, so they log at debug. */
const PROBE_PATHS: ReadonlySet<string> = new Set(["/healthz", "/readyz"]);

/** Maximum length in characters of the logged URL, so a huge request line cannot bloat logs. */
export const MAX_LOGGED_URL_LENGTH = 2048;

/**
 * Creates the middleware that gives each request an id and a child logger (`req.log`) that
 * adds the id to every line. It logs one line per request: 5xx at error, other statuses at
 * info, and requests that the client aborted before the response finished at warn. Probes
 * log at debug. The line carries the error code and event id when there are any.
 */
export function requestLogging(logger: Logger): HttpLogger {
  return pinoHttp({
    logger,
    genReqId: assignRequestId,
    customAttributeKeys: { reqId: "requestId" },
    quietReqLogger: true,
    customLogLevel: logLevelOf,
    customSuccessMessage: (_request, response) => messageOf(response, "request completed"),
    customErrorMessage: (_request, response) => messageOf(response, "request failed"),
    customErrorObject: withoutSyntheticError,
    // Called again when the response finishes, after the handlers set these locals.
    customProps: (_request, response) => {
      const locals = (response as ServerResponse & { locals?: Record<string, unknown> }).locals;
      return { errorCode: locals?.errorCode, eventUid: locals?.eventUid };
    },
    serializers: {
      req: (request: { method: string; url: string }) => ({
        method: request.method,
        url: request.url.slice(0, MAX_LOGGED_URL_LENGTH),
      }),
      res: (response: { statusCode: number }) => ({ statusCode: response.statusCode }),
    },
  });
}

function logLevelOf(
  request: IncomingMessage,
  response: ServerResponse,
  error: Error | undefined,
): LevelWithSilent {
  if (isProbe(request)) return "debug";
  if (!response.writableFinished) return "warn";
  return error !== undefined || response.statusCode >= 500 ? "error" : "info";
}

/** pino-http also logs on `close`, which fires without `finish` when the client aborted. */
function messageOf(response: ServerResponse, finishedMessage: string): string {
  return response.writableFinished ? finishedMessage : "request aborted";
}

/**
 * Drops the error that pino-http makes up for a 5xx without `res.err`, such as a 503 from
 * /readyz, because its stack points into pino-http. Errors that sendError sets are kept.
 */
function withoutSyntheticError(
  _request: IncomingMessage,
  response: ServerResponse,
  error: Error,
  value: Record<string, unknown>,
): Record<string, unknown> {
  const synthetic =
    error !== response.err && error.message === `failed with status code ${response.statusCode}`;
  if (!synthetic) return value;
  const { err: _synthetic, ...rest } = value;
  return rest;
}

function isProbe(request: IncomingMessage): boolean {
  const url = request.url ?? "";
  const queryStart = url.indexOf("?");
  return PROBE_PATHS.has(queryStart === -1 ? url : url.slice(0, queryStart));
}

function assignRequestId(request: IncomingMessage, response: ServerResponse): string {
  const given = request.headers["x-request-id"];
  const id = typeof given === "string" && VALID_REQUEST_ID.test(given) ? given : randomUUID();
  response.setHeader("X-Request-Id", id);
  return id;
}
