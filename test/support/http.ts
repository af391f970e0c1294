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
