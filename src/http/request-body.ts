import type { IncomingMessage } from "node:http";

import type { Response } from "express";
import getRawBody from "raw-body";

import { RequestError } from "../errors.js";
import { parseMediaType } from "./media-type.js";

/** A parsed JSON body together with its text. */
export interface JsonBody {
  readonly value: unknown;
  readonly text: string;
}

const utf8 = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true });

const BYTE_ORDER_MARK = 0xfeff;

/** Whitespace as JSON defines it (RFC 8259, section 2), which is narrower than String.trim's. */
const JSON_WHITESPACE_ONLY = /^[ \t\n\r]*$/;

/**
 * Reads a JSON request body of at most `limitBytes`. Rejects with RequestError:
 * UNSUPPORTED_MEDIA_TYPE unless the body is `application/json` in UTF-8 without a content
 * coding, PAYLOAD_TOO_LARGE above the limit, and INVALID_JSON when it is empty, not UTF-8,
 * starts with a byte order mark, or is not JSON.
 */
export async function readJsonBody(
  request: IncomingMessage,
  limitBytes: number,
): Promise<JsonBody> {
  checkMediaType(request);
  const text = decodeUtf8(await readBytes(request, limitBytes));
  // RFC 8259, section 8.1: senders must not add a byte order mark. JSON.parse would
  // report it only as an unexpected token.
  if (text.charCodeAt(0) === BYTE_ORDER_MARK) {
    throw new RequestError(
      "INVALID_JSON",
      "The request body starts with a byte order mark (U+FEFF). Send JSON without it.",
      { errors: [{ path: "/body", message: "starts with a byte order mark" }] },
    );
  }
  if (JSON_WHITESPACE_ONLY.test(text)) {
    throw new RequestError("INVALID_JSON", "The request body is empty. Send a JSON object.", {
      errors: [{ path: "/body", message: "is empty" }],
    });
  }
  try {
    return { value: JSON.parse(text), text };
  } catch (error) {
    const reason = error instanceof SyntaxError ? error.message : "invalid JSON";
    throw new RequestError("INVALID_JSON", `The request body is not valid JSON: ${reason}`, {
      errors: [{ path: "/body", message: reason }],
    });
  }
}

function checkMediaType(request: IncomingMessage): void {
  const header = request.headers["content-type"];
  if (header === undefined) {
    throw unsupportedMediaType("The request has no Content-Type. Send application/json.");
  }
  const mediaType = parseMediaType(header);
  if (mediaType === undefined) {
    throw unsupportedMediaType(`Content-Type ${JSON.stringify(header)} is malformed.`);
  }
  if (mediaType.essence !== "application/json") {
    throw unsupportedMediaType(
      `Content-Type ${mediaType.essence} is not supported. Send application/json.`,
    );
  }
  const charset = mediaType.parameters.get("charset")?.toLowerCase();
  if (charset !== undefined && charset !== "utf-8" && charset !== "utf8") {
    throw unsupportedMediaType(`Charset ${charset} is not supported. Send UTF-8.`);
  }
  const coding = request.headers["content-encoding"]?.toLowerCase();
  if (coding !== undefined && coding !== "identity") {
    throw unsupportedMediaType(
      `Content-Encoding ${coding} is not supported. Send the body uncompressed.`,
    );
  }
}

async function readBytes(request: IncomingMessage, limitBytes: number): Promise<Buffer> {
  try {
    return await getRawBody(request, {
      limit: limitBytes,
      length: request.headers["content-length"],
    });
  } catch (error) {
    if ((error as { type?: string }).type === "entity.too.large") {
      throw new RequestError(
        "PAYLOAD_TOO_LARGE",
        `The request body exceeds the limit of ${limitBytes} bytes.`,
        { cause: error },
      );
    }
    throw new RequestError("INVALID_JSON", "The request body could not be read completely.", {
      cause: error,
      errors: [{ path: "/body", message: "is incomplete" }],
    });
  }
}

function decodeUtf8(bytes: Buffer): string {
  try {
    return utf8.decode(bytes);
  } catch (error) {
    throw new RequestError("INVALID_JSON", "The request body is not valid UTF-8.", {
      cause: error,
      errors: [{ path: "/body", message: "is not valid UTF-8" }],
    });
  }
}

function unsupportedMediaType(message: string): RequestError {
  return new RequestError("UNSUPPORTED_MEDIA_TYPE", message);
}

/** Keeps the body read for this request where the operation handler finds it. */
export function attachRequestBody(response: Response, body: JsonBody): void {
  response.locals.jsonBody = body;
}

/** Returns the body that attachRequestBody kept. Throws when no body was read. */
export function requestBodyOf(response: Response): JsonBody {
  const body = response.locals.jsonBody as JsonBody | undefined;
  if (body === undefined) throw new Error("the request body was not read for this operation");
  return body;
}
