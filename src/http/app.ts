import express, { type NextFunction, type Request, type Response } from "express";
import type { Request as ApiRequest, OpenAPIBackend } from "openapi-backend";

import { RequestError } from "../errors.js";
import type { Logger } from "../logger.js";
import { sendError } from "./error-response.js";
import { attachRequestBody, readJsonBody } from "./request-body.js";
import { requestLogging } from "./request-logging.js";

export interface AppOptions {
  readonly api: OpenAPIBackend;
  readonly logger: Logger;
  readonly bodyLimitBytes: number;
  /** Maximum events in one batch request. */
  readonly batchMaxEvents: number;
}

/**
 * Builds the Express application. openapi-backend routes and validates every request
 * against the OpenAPI document. Every error, wherever it is thrown, leaves through
 * sendError as a JSON body, so Express never renders its HTML error page.
 */
export function createApp(options: AppOptions): express.Express {
  const app = express();
  app.disable("x-powered-by");
  app.disable("etag");

  app.use(requestLogging(options.logger));
  app.use((request: Request, response: Response) => handleRequest(options, request, response));
  app.use((error: unknown, _request: Request, response: Response, next: NextFunction) => {
    if (response.headersSent) {
      next(error);
      return;
    }
    sendError(response, error);
  });
  return app;
}

async function handleRequest(options: AppOptions, request: Request, response: Response) {
  const apiRequest: ApiRequest = {
    method: routingMethodOf(request),
    path: request.path,
    headers: request.headers as ApiRequest["headers"],
    query: request.query as Record<string, string | string[]>,
  };
  const operation = options.api.matchOperation(apiRequest);
  if (operation?.requestBody !== undefined) {
    const body = await readJsonBody(request, options.bodyLimitBytes);
    checkBatchSize(operation.operationId, body.value, options.batchMaxEvents);
    attachRequestBody(response, body);
    // openapi-backend parses any body that is not an object as JSON text, so primitives
    // are passed as their text to be parsed back to the same value.
    apiRequest.body =
      typeof body.value === "object" && body.value !== null ? body.value : body.text;
  }
  try {
    await options.api.handleRequest(apiRequest, request, response);
  } catch (error) {
    // openapi-backend decodes path parameters with decodeURIComponent.
    if (error instanceof URIError) throw malformedPath(error);
    throw error;
  }
}

/**
 * Routes HEAD as GET, because HEAD is GET without response content (RFC 9110, section
 * 9.3.2). Node's ServerResponse sends the headers of a HEAD response and drops its body.
 */
function routingMethodOf(request: Request): string {
  return request.method === "HEAD" ? "GET" : request.method;
}

/**
 * Rejects a batch over the limit before openapi-backend validates it, because validating
 * hundreds of thousands of elements with every error reported exhausts the stack.
 */
function checkBatchSize(operationId: string | undefined, value: unknown, maxEvents: number) {
  if (operationId !== "publishEventBatch" || !Array.isArray(value) || value.length <= maxEvents) {
    return;
  }
  throw new RequestError(
    "PAYLOAD_TOO_LARGE",
    `The batch has ${value.length} events; the limit is ${maxEvents}. Split it.`,
  );
}

function malformedPath(cause: URIError): RequestError {
  return new RequestError(
    "INVALID_PATH_SEGMENT",
    "The request path has malformed percent-encoding.",
    {
      cause,
      errors: [{ path: "/path", message: "has malformed percent-encoding" }],
    },
  );
}
