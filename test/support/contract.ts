import Ajv, { type ValidateFunction } from "ajv";
import addFormats from "ajv-formats";
import { expect } from "chai";
import type { OpenAPIBackend } from "openapi-backend";

import { createApi } from "../../src/http/api.js";

let contract: Promise<OpenAPIBackend> | undefined;
let errorValidator: ValidateFunction | undefined;

/** Loads the OpenAPI document once for all tests, with no-op handlers. */
function loadContract(): Promise<OpenAPIBackend> {
  const unused = () => undefined;
  contract ??= createApi({
    publishEvent: unused,
    publishEventBatch: unused,
    getHealth: unused,
    getReadiness: unused,
  });
  return contract;
}

export interface ObservedResponse {
  readonly method: string;
  readonly path: string;
  readonly status: number;
  readonly headers: Headers;
  readonly text: string;
  readonly body: unknown;
}

/**
 * Asserts that a response is allowed by the OpenAPI document: its status is declared for
 * the operation, and its body and headers match the schemas. A response to a path with no
 * operation (404) must match the Error schema. A HEAD response is checked as the GET
 * response would be, but must have no body.
 */
export async function assertMatchesContract(response: ObservedResponse): Promise<void> {
  const api = await loadContract();
  const where = `${response.method} ${response.path} -> ${response.status} ${response.text}`;
  const isHead = response.method.toUpperCase() === "HEAD";

  expect(response.headers.get("content-type"), where).to.match(/^application\/json\b/);
  expect(response.text, where).not.to.match(/<html|<!DOCTYPE|\bat .+:\d+:\d+/i);
  expect(response.headers.get("x-request-id"), where).to.be.a("string").that.is.not.empty;
  if (isHead) expect(response.text, where).to.equal("");

  const operation = api.matchOperation({
    method: isHead ? "GET" : response.method,
    path: new URL(response.path, "http://localhost").pathname,
    headers: {},
  });
  if (operation === undefined) {
    if (isHead) return;
    const validate = compileErrorSchema(api);
    expect(validate(response.body), `${where}\n${JSON.stringify(validate.errors)}`).to.equal(true);
    return;
  }

  expect(operation.responses, where).to.have.property(String(response.status));
  if (!isHead) {
    const result = api.validateResponse(response.body, operation, response.status);
    expect(result.errors ?? [], where).to.deep.equal([]);
  }
  if (response.status === 405) {
    expect(response.headers.get("allow"), where).to.be.a("string").that.is.not.empty;
  }
}

function compileErrorSchema(api: OpenAPIBackend): ValidateFunction {
  if (errorValidator === undefined) {
    const ajv = new Ajv.default({ strict: false });
    addFormats.default(ajv);
    errorValidator = ajv.compile(api.definition.components?.schemas?.Error as object);
  }
  return errorValidator;
}
