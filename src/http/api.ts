import { fileURLToPath } from "node:url";

import type { ErrorObject } from "ajv";
import addFormats from "ajv-formats";
import type { Request, Response } from "express";
import { type Context, OpenAPIBackend } from "openapi-backend";

import { type FieldError, RequestError } from "../errors.js";
import { cacheRouting } from "./router-cache.js";

export const OPENAPI_PATH = fileURLToPath(new URL("../../openapi/openapi.yaml", import.meta.url));

/** A handler registered for an operationId; it writes the response or throws. */
export type OperationHandler = (
  context: Context,
  request: Request,
  response: Response,
) => Promise<void> | void;

export interface OperationHandlers {
  readonly publishEvent: OperationHandler;
  readonly publishEventBatch: OperationHandler;
  readonly getHealth: OperationHandler;
  readonly getReadiness: OperationHandler;
}

/**
 * openapi-backend 5.x checks the document against the OpenAPI 3.0 schema, which rejects
 * 3.1 features such as `const` and siblings of `$ref`. The tests lint the document as 3.1
 * instead, so the check at start-up is skipped.
 */
class OpenApi31Backend extends OpenAPIBackend {
  override validateDefinition() {
    return this.document;
  }
}

const HTTP_METHODS = ["get", "post", "put", "patch", "delete"] as const;

const EVENT_ROUTE_PREFIX = "/api/event";
const SEGMENT_NAMES = ["solution", "model", "action"] as const;
const SEGMENT_RULE =
  "must be 1 to 64 characters of A-Z, a-z, 0-9, '_' and '-', starting with a letter or digit";

/** Readable rules for headers whose schema errors would only quote a pattern. */
const HEADER_RULES: Readonly<Record<string, string>> = {
  "/header/idempotency-key": "must be 1 to 255 printable ASCII characters",
};

/** Loads the OpenAPI document and compiles its request validators, once per process. */
export async function createApi(handlers: OperationHandlers): Promise<OpenAPIBackend> {
  const api = new OpenApi31Backend({
    definition: OPENAPI_PATH,
    strict: true,
    // Report every invalid element of a batch, not only the first.
    ajvOpts: { allErrors: true },
    customizeAjv: (ajv) => {
      addFormats.default(ajv);
      return ajv;
    },
    handlers: { ...handlers, validationFail, notFound, methodNotAllowed },
  });
  await api.init();
  cacheRouting(api.router);
  return api;
}

function validationFail(context: Context): never {
  const errors = (context.validation.errors ?? []).map(toFieldError);
  const segments = errors.filter((error) => error.path.startsWith("/path/"));
  if (segments.length > 0) {
    throw invalidSegments(
      uniqueByPath(segments).map(({ path }) => ({ path, message: SEGMENT_RULE })),
    );
  }
  if (errors.some((error) => error.path.startsWith("/body"))) {
    const expected =
      context.operation.operationId === "publishEventBatch"
        ? "The request body must be a non-empty JSON array of JSON objects with at least one property each; nothing was stored."
        : "The request body must be a JSON object with at least one property.";
    throw new RequestError("INVALID_BODY", expected, { errors });
  }
  const described = uniqueByPath(errors).map(({ path, message }) => ({
    path,
    message: HEADER_RULES[path] ?? message,
  }));
  throw new RequestError("INVALID_PARAMETER", "A query parameter or header is invalid.", {
    errors: described,
  });
}

/**
 * Paths under /api/event with a missing or empty segment match no route; they get 400
 * naming the segment rather than 404. Other unknown paths get 404.
 */
function notFound(context: Context): never {
  const path = context.request.path;
  const missing = findMissingSegments(path);
  if (missing !== undefined && missing.length > 0) throw invalidSegments(missing);
  throw new RequestError("NOT_FOUND", `No route matches ${path}.`);
}

function methodNotAllowed(context: Context, request: Request, response: Response): never {
  const allowed = HTTP_METHODS.filter((method) =>
    context.api.router.matchOperation({ method, path: context.request.path, headers: {} }),
  ).flatMap((method) => (method === "get" ? ["GET", "HEAD"] : [method.toUpperCase()]));
  response.setHeader("Allow", allowed.join(", "));
  // The request's own method, because the router matched a HEAD request as GET.
  throw new RequestError(
    "METHOD_NOT_ALLOWED",
    `Method ${request.method} is not allowed here. Use ${allowed.join(" or ")}.`,
  );
}

function findMissingSegments(path: string): FieldError[] | undefined {
  if (path !== EVENT_ROUTE_PREFIX && !path.startsWith(`${EVENT_ROUTE_PREFIX}/`)) return undefined;
  const segments = path
    .slice(EVENT_ROUTE_PREFIX.length + 1)
    .replace(/\/$/, "")
    .split("/");
  if (segments.length > SEGMENT_NAMES.length) return undefined;

  return SEGMENT_NAMES.flatMap((name, index) => {
    const segment = segments[index] ?? "";
    return segment === "" ? [{ path: `/path/${name}`, message: "is missing" }] : [];
  });
}

function invalidSegments(errors: FieldError[]): RequestError {
  const names = errors.map(({ path }) => path.slice("/path/".length));
  const subject =
    names.length === 1 ? `Path segment ${names[0]} is` : `Path segments ${names.join(", ")} are`;
  return new RequestError(
    "INVALID_PATH_SEGMENT",
    `${subject} missing or invalid. Use /api/event/{solution}/{model}/{action}; each segment ${SEGMENT_RULE}.`,
    { errors },
  );
}

/** Converts an Ajv error to a FieldError whose path is a JSON Pointer such as /body/name. */
function toFieldError(error: ErrorObject): FieldError {
  let path = error.instancePath;
  if (error.keyword === "required" && typeof error.params.missingProperty === "string") {
    path = `${path}/${error.params.missingProperty}`;
  }
  path = path.replace(/^\/requestBody(?=\/|$)/, "/body");
  return { path: path === "" ? "/" : path, message: error.message ?? "is invalid" };
}

function uniqueByPath(errors: FieldError[]): FieldError[] {
  return [...new Map(errors.map((error) => [error.path, error])).values()];
}
