import { randomUUID } from "node:crypto";
import type { IncomingMessage, ServerResponse } from "node:http";

import { type HttpLogger, pinoHttp } from "pino-http";

import type { Logger } from "../logger.js";

/** A client's X-Request-Id is used as given when it is 1 to 128 visible ASCII characters. */
const VALID_REQUEST_ID = /^[\x21-\x7e]{1,128}$/;

/**
 * Creates the middleware that gives each request an id and a child logger (`req.log`) that
 * adds the id to every line, and logs one line per completed request: level error for
 * 5xx, info otherwise. The line carries the error code and event id when there are any.
 */
export function requestLogging(logger: Logger): HttpLogger {
  return pinoHttp({
    logger,
    genReqId: assignRequestId,
    customAttributeKeys: { reqId: "requestId" },
    quietReqLogger: true,
    customLogLevel: (_request, response, error) =>
      error !== undefined || response.statusCode >= 500 ? "error" : "info",
    customSuccessMessage: () => "request completed",
    customErrorMessage: () => "request failed",
    // Called again when the response finishes, after the handlers set these locals.
    customProps: (_request, response) => {
      const locals = (response as ServerResponse & { locals?: Record<string, unknown> }).locals;
      return { errorCode: locals?.errorCode, eventUid: locals?.eventUid };
    },
    serializers: {
      req: (request: { method: string; url: string }) => ({
        method: request.method,
        url: request.url,
      }),
      res: (response: { statusCode: number }) => ({ statusCode: response.statusCode }),
    },
  });
}

function assignRequestId(request: IncomingMessage, response: ServerResponse): string {
  const given = request.headers["x-request-id"];
  const id = typeof given === "string" && VALID_REQUEST_ID.test(given) ? given : randomUUID();
  response.setHeader("X-Request-Id", id);
  return id;
}
