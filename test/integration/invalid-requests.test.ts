import { expect } from "chai";

import type { EventRoute } from "../../src/events/event.js";
import { routeQueue, uniqueRoute } from "../support/broker.js";
import { eventPath, send } from "../support/http.js";
import { useTestService } from "../support/service.js";

const SEGMENT_RULE =
  "must be 1 to 64 characters of A-Z, a-z, 0-9, '_' and '-', starting with a letter or digit";
const PATH_HINT = `Use /api/event/{solution}/{model}/{action}; each segment ${SEGMENT_RULE}.`;
const JSON_TYPE = { "content-type": "application/json" };

interface BodyCase {
  readonly name: string;
  readonly body: string | Uint8Array;
  readonly headers?: Record<string, string>;
  readonly status: number;
  readonly expected: Record<string, unknown>;
}

function nested(depth: number): string {
  return `${'{"a":'.repeat(depth - 1)}{"a":1}${"}".repeat(depth - 1)}`;
}

const BODY_CASES: BodyCase[] = [
  {
    name: "no Content-Type",
    // fetch labels a string body text/plain, but bytes not at all.
    body: new TextEncoder().encode('{"a":1}'),
    status: 415,
    expected: {
      code: "UNSUPPORTED_MEDIA_TYPE",
      message: "The request has no Content-Type. Send application/json.",
    },
  },
  {
    name: "Content-Type text/plain",
    body: '{"a":1}',
    headers: { "content-type": "text/plain" },
    status: 415,
    expected: {
      code: "UNSUPPORTED_MEDIA_TYPE",
      message: "Content-Type text/plain is not supported. Send application/json.",
    },
  },
  {
    name: "a charset other than UTF-8",
    body: '{"a":1}',
    headers: { "content-type": "application/json; charset=iso-8859-1" },
    status: 415,
    expected: {
      code: "UNSUPPORTED_MEDIA_TYPE",
      message: "Charset iso-8859-1 is not supported. Send UTF-8.",
    },
  },
  {
    name: "a compressed body",
    body: '{"a":1}',
    headers: { ...JSON_TYPE, "content-encoding": "gzip" },
    status: 415,
    expected: {
      code: "UNSUPPORTED_MEDIA_TYPE",
      message: "Content-Encoding gzip is not supported. Send the body uncompressed.",
    },
  },
  {
    name: "an empty body",
    body: "",
    headers: JSON_TYPE,
    status: 400,
    expected: {
      code: "INVALID_JSON",
      message: "The request body is empty. Send a JSON object.",
      errors: [{ path: "/body", message: "is empty" }],
    },
  },
  {
    name: "malformed JSON",
    body: '{"order_id": 1,',
    headers: JSON_TYPE,
    status: 400,
    expected: {
      code: "INVALID_JSON",
      message:
        "The request body is not valid JSON: Expected double-quoted property name in JSON at position 15",
      errors: [
        { path: "/body", message: "Expected double-quoted property name in JSON at position 15" },
      ],
    },
  },
  {
    name: "a byte order mark",
    body: Uint8Array.from([0xef, 0xbb, 0xbf, ...new TextEncoder().encode('{"a":1}')]),
    headers: JSON_TYPE,
    status: 400,
    expected: {
      code: "INVALID_JSON",
      message: "The request body starts with a byte order mark (U+FEFF). Send JSON without it.",
      errors: [{ path: "/body", message: "starts with a byte order mark" }],
    },
  },
  {
    name: "bytes that are not UTF-8",
    body: Uint8Array.from([0x7b, 0x22, 0x61, 0x22, 0x3a, 0x22, 0xff, 0x22, 0x7d]),
    headers: JSON_TYPE,
    status: 400,
    expected: {
      code: "INVALID_JSON",
      message: "The request body is not valid UTF-8.",
      errors: [{ path: "/body", message: "is not valid UTF-8" }],
    },
  },
  ...["[1, 2]", '"text"', "42", "null"].map((body) => ({
    name: `the JSON value ${body}`,
    body,
    headers: JSON_TYPE,
    status: 400,
    expected: {
      code: "INVALID_BODY",
      message: "The request body must be a JSON object with at least one property.",
      errors: [{ path: "/body", message: "must be object" }],
    },
  })),
  {
    name: "an empty object",
    body: "{}",
    headers: JSON_TYPE,
    status: 400,
    expected: {
      code: "INVALID_BODY",
      message: "The request body must be a JSON object with at least one property.",
      errors: [{ path: "/body", message: "must NOT have fewer than 1 properties" }],
    },
  },
  {
    name: "a string containing U+0000",
    body: '{"note": {"text": "a\\u0000b"}}',
    headers: JSON_TYPE,
    status: 400,
    expected: {
      code: "INVALID_BODY",
      message: "The event data contains values that cannot be stored.",
      errors: [
        { path: "/body/note/text", message: "contains U+0000, which PostgreSQL cannot store" },
      ],
    },
  },
  {
    name: "a key with an unpaired surrogate",
    body: '{"items": [{"\\ud800/x": 1}]}',
    headers: JSON_TYPE,
    status: 400,
    expected: {
      code: "INVALID_BODY",
      message: "The event data contains values that cannot be stored.",
      errors: [
        { path: "/body/items/0/\ud800~1x", message: "key contains an unpaired UTF-16 surrogate" },
      ],
    },
  },
  {
    name: "duplicate keys",
    body: '{"order_id": 1, "customer": {"id": 7, "id": 8}}',
    headers: JSON_TYPE,
    status: 400,
    expected: {
      code: "INVALID_BODY",
      message: "The event data contains values that cannot be stored.",
      errors: [{ path: "/body/customer", message: "has duplicate keys" }],
    },
  },
  {
    name: "nesting deeper than 64 levels",
    body: nested(65),
    headers: JSON_TYPE,
    status: 400,
    expected: {
      code: "INVALID_BODY",
      message: "The event data contains values that cannot be stored.",
      errors: [{ path: `/body${"/a".repeat(64)}`, message: "nesting exceeds 64 levels" }],
    },
  },
  {
    name: "a number beyond the range of a double",
    body: '{"amount": 1e400}',
    headers: JSON_TYPE,
    status: 400,
    expected: {
      code: "INVALID_BODY",
      message: "The event data contains values that cannot be stored.",
      errors: [{ path: "/body/amount", message: "number is too large to represent" }],
    },
  },
  {
    name: "a number beyond the range of PostgreSQL's numeric",
    body: '{"amount": 1e-20000}',
    headers: JSON_TYPE,
    status: 400,
    expected: {
      code: "INVALID_BODY",
      message: "The event data contains values that cannot be stored.",
      errors: [
        {
          path: "/body",
          message:
            "contains a number outside PostgreSQL's numeric range (at most 131072 digits before the point and 16383 after)",
        },
      ],
    },
  },
  {
    name: "a body over the size limit",
    body: JSON.stringify({ data: "x".repeat(1024 * 1024) }),
    headers: JSON_TYPE,
    status: 413,
    expected: {
      code: "PAYLOAD_TOO_LARGE",
      message: "The request body exceeds the limit of 1048576 bytes.",
    },
  },
];

interface PathCase {
  readonly name: string;
  readonly path: string;
  readonly method?: string;
  readonly status: number;
  readonly expected: Record<string, unknown>;
}

const PATH_CASES: PathCase[] = [
  ...[
    ["a space", "eco%20mmerce"],
    ["a dot, as in amq.", "amq.gen"],
    ["a leading hyphen", "-ecommerce"],
    ["65 characters", "a".repeat(65)],
    ["a slash encoded as %2F", "a%2Fb"],
  ].map(([what, segment]) => ({
    name: `a solution with ${what}`,
    path: `/api/event/${segment}/order/create`,
    status: 400,
    expected: {
      code: "INVALID_PATH_SEGMENT",
      message: `Path segment solution is missing or invalid. ${PATH_HINT}`,
      errors: [{ path: "/path/solution", message: SEGMENT_RULE }],
    },
  })),
  {
    name: "a missing action",
    path: "/api/event/ecommerce/order",
    status: 400,
    expected: {
      code: "INVALID_PATH_SEGMENT",
      message: `Path segment action is missing or invalid. ${PATH_HINT}`,
      errors: [{ path: "/path/action", message: "is missing" }],
    },
  },
  {
    name: "an empty model",
    path: "/api/event/ecommerce//create",
    status: 400,
    expected: {
      code: "INVALID_PATH_SEGMENT",
      message: `Path segment model is missing or invalid. ${PATH_HINT}`,
      errors: [{ path: "/path/model", message: "is missing" }],
    },
  },
  {
    name: "no segments",
    path: "/api/event",
    status: 400,
    expected: {
      code: "INVALID_PATH_SEGMENT",
      message: `Path segments solution, model, action are missing or invalid. ${PATH_HINT}`,
      errors: [
        { path: "/path/solution", message: "is missing" },
        { path: "/path/model", message: "is missing" },
        { path: "/path/action", message: "is missing" },
      ],
    },
  },
  {
    name: "malformed percent-encoding",
    path: "/api/event/a%ZZ/order/create",
    status: 400,
    expected: {
      code: "INVALID_PATH_SEGMENT",
      message: "The request path has malformed percent-encoding.",
      errors: [{ path: "/path", message: "has malformed percent-encoding" }],
    },
  },
  {
    name: "a query parameter",
    path: "/api/event/ecommerce/order/create?debug=1",
    status: 400,
    expected: {
      code: "INVALID_PARAMETER",
      message: "A query parameter or header is invalid.",
      errors: [{ path: "/query", message: "must NOT have additional properties" }],
    },
  },
  {
    name: "a fourth segment",
    path: "/api/event/ecommerce/order/create/extra",
    status: 404,
    expected: {
      code: "NOT_FOUND",
      message: "No route matches /api/event/ecommerce/order/create/extra.",
    },
  },
  {
    name: "an unknown route",
    path: "/api/events",
    status: 404,
    expected: { code: "NOT_FOUND", message: "No route matches /api/events." },
  },
  {
    name: "the method GET",
    method: "GET",
    path: "/api/event/ecommerce/order/create",
    status: 405,
    expected: { code: "METHOD_NOT_ALLOWED", message: "Method GET is not allowed here. Use POST." },
  },
];

describe("POST /api/event with invalid input", () => {
  const fixture = useTestService();

  async function expectNothingKept(route: EventRoute): Promise<void> {
    expect(await fixture.database.rowsFor(route), "rows").to.deep.equal([]);
    expect(await fixture.broker.count(routeQueue(route)), "queued messages").to.be.oneOf([
      undefined,
      0,
    ]);
  }

  for (const testCase of BODY_CASES) {
    it(`returns ${testCase.status} for ${testCase.name} and keeps nothing`, async () => {
      const route = uniqueRoute();
      const headers = testCase.headers ?? {};

      const response = await send(fixture.service.url, "POST", eventPath(route), {
        body: testCase.body,
        headers,
      });

      expect(response.status).to.equal(testCase.status);
      expect(response.body).to.deep.equal({ status: "error", ...testCase.expected });
      await expectNothingKept(route);
    });
  }

  for (const testCase of PATH_CASES) {
    it(`returns ${testCase.status} for ${testCase.name}`, async () => {
      const method = testCase.method ?? "POST";

      const response = await send(fixture.service.url, method, testCase.path, {
        body: method === "POST" ? { order_id: 1 } : undefined,
      });

      expect(response.status).to.equal(testCase.status);
      expect(response.body).to.deep.equal({ status: "error", ...testCase.expected });
    });
  }

  it("answers 405 with an Allow header naming POST", async () => {
    const response = await send(fixture.service.url, "DELETE", eventPath(uniqueRoute()));

    expect(response.status).to.equal(405);
    expect(response.headers.get("allow")).to.equal("POST");
  });

  it("keeps serving valid events after invalid ones", async () => {
    const route = uniqueRoute();
    await send(fixture.service.url, "POST", eventPath(route), { body: "{", headers: JSON_TYPE });

    const response = await send(fixture.service.url, "POST", eventPath(route), {
      body: { ok: true },
    });

    expect(response.status).to.equal(200);
    expect(await fixture.database.rowsFor(route)).to.have.length(1);
  });
});
