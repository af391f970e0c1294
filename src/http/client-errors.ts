import { randomUUID } from "node:crypto";
import { maxHeaderSize, type Server, type ServerResponse, STATUS_CODES } from "node:http";
import type { Duplex } from "node:stream";

import { RequestError } from "../errors.js";
import type { Logger } from "../logger.js";
import { toErrorBody } from "./error-response.js";

/** An error that Node's HTTP server emits with `clientError`, from its parser or a timeout. */
interface ClientError extends Error {
  readonly code?: string;
  /** llhttp's description of a parse error, such as "Invalid method encountered". */
  readonly reason?: unknown;
}

/**
 * Makes `server` respond to the errors that Node raises before a request reaches Express:
 * an unparsable request line or header, headers over the size limit, or a request that
 * arrives too slowly. The response has our JSON error body, an X-Request-Id and
 * `Connection: close`, and one info line is logged for it. Node's own fallback sends an
 * empty body and logs nothing.
 */
export function respondToClientErrors(server: Server, logger: Logger): void {
  server.on("clientError", (error: ClientError, socket: Duplex) => {
    if (!canStillRespond(socket)) {
      logger.debug({ err: error }, "client error on a connection that cannot take a response");
      socket.destroy();
      return;
    }

    const requestId = randomUUID();
    const gatewayError = toRequestError(error, server);
    const body = JSON.stringify(toErrorBody(gatewayError));
    socket.end(formatResponse(gatewayError.status, requestId, body), () => socket.destroy());
    logger.info(
      {
        requestId,
        errorCode: gatewayError.code,
        res: { statusCode: gatewayError.status },
        nodeErrorCode: error.code,
      },
      "client error response sent",
    );
  });
}

/**
 * Checks that a response can be written without corrupting the connection, so the socket
 * is open and no response on it has sent its headers yet.
 */
function canStillRespond(socket: Duplex): boolean {
  // NOTE: `_httpMessage` is Node's internal link from a socket to the response in flight.
  // Node 20's own clientError fallback (lib/_http_server.js) makes the same check.
  const inFlight = (socket as Duplex & { _httpMessage?: ServerResponse | null })._httpMessage;
  return socket.writable && inFlight?.headersSent !== true;
}

function toRequestError(error: ClientError, server: Server): RequestError {
  switch (error.code) {
    case "HPE_HEADER_OVERFLOW":
      return new RequestError(
        "HEADERS_TOO_LARGE",
        `The request line and headers exceed the limit of ${maxHeaderSize} bytes. ` +
          "Send fewer or shorter headers.",
        { cause: error },
      );
    case "ERR_HTTP_REQUEST_TIMEOUT":
      return new RequestError(
        "REQUEST_TIMEOUT",
        `The request did not arrive in time. Send the headers within ${server.headersTimeout / 1000} s ` +
          `and the whole request within ${server.requestTimeout / 1000} s.`,
        { cause: error },
      );
    default: {
      const reason = typeof error.reason === "string" ? `: ${error.reason}` : "";
      return new RequestError(
        "MALFORMED_REQUEST",
        `The request is not valid HTTP/1.1${reason}. Check the request line and the headers. ` +
          "Spaces in the path must be percent-encoded as %20.",
        { cause: error },
      );
    }
  }
}

/** Formats a complete HTTP/1.1 response, because no ServerResponse exists for the request. */
function formatResponse(status: number, requestId: string, body: string): string {
  return [
    `HTTP/1.1 ${status} ${STATUS_CODES[status] ?? ""}`,
    "Content-Type: application/json; charset=utf-8",
    `Content-Length: ${Buffer.byteLength(body)}`,
    `X-Request-Id: ${requestId}`,
    "Connection: close",
    "",
    body,
  ].join("\r\n");
}
