import { once } from "node:events";
import { connect } from "node:net";

import type { EventRoute } from "../../src/events/event.js";
import { assertMatchesContract, type ObservedResponse } from "./contract.js";

export interface RequestOptions {
  /** A string or bytes are sent as they are; anything else as JSON. */
  readonly body?: unknown;
  readonly headers?: Record<string, string>;
}

/**
 * Sends a request to the service and returns the response with its body parsed. Every
 * response is checked against the OpenAPI document before it is returned.
 */
export async function send(
  baseUrl: string,
  method: string,
  path: string,
  options: RequestOptions = {},
): Promise<ObservedResponse> {
  const headers = { ...options.headers };
  let body: string | Uint8Array | undefined;
  if (typeof options.body === "string" || options.body instanceof Uint8Array) {
    body = options.body;
  } else if (options.body !== undefined) {
    body = JSON.stringify(options.body);
    headers["content-type"] ??= "application/json";
  }

  const response = await fetch(new URL(path, baseUrl), { method, headers, body });
  const text = await response.text();
  const observed: ObservedResponse = {
    method,
    path,
    status: response.status,
    headers: response.headers,
    text,
    body: text === "" ? undefined : JSON.parse(text),
  };
  await assertMatchesContract(observed);
  return observed;
}

export function eventPath(route: EventRoute): string {
  return `/api/event/${route.solution}/${route.model}/${route.action}`;
}

/** POSTs `data` as a JSON event to the route. */
export function postEvent(
  baseUrl: string,
  route: EventRoute,
  data: unknown,
  options: RequestOptions = {},
) {
  return send(baseUrl, "POST", eventPath(route), { ...options, body: data });
}

export interface RawResponse {
  readonly statusLine: string;
  /** Header names in lower case. */
  readonly headers: ReadonlyMap<string, string>;
  readonly body: unknown;
}

/**
 * Writes `text` as it is to a new connection on 127.0.0.1:`port` and reads the response
 * until the server closes the connection. Unlike fetch, this can send invalid HTTP.
 */
export async function sendRaw(port: number, text: string): Promise<RawResponse> {
  const socket = connect(port, "127.0.0.1");
  const chunks: Buffer[] = [];
  socket.on("data", (chunk: Buffer) => chunks.push(chunk));
  socket.write(text);
  await once(socket, "close");

  const [head = "", body = ""] = Buffer.concat(chunks).toString("utf8").split("\r\n\r\n");
  const [statusLine = "", ...fields] = head.split("\r\n");
  const headers = new Map(
    fields.map((field) => {
      const colon = field.indexOf(":");
      return [field.slice(0, colon).toLowerCase(), field.slice(colon + 1).trim()];
    }),
  );
  return { statusLine, headers, body: body === "" ? undefined : JSON.parse(body) };
}
