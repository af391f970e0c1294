import type { IncomingHttpHeaders, IncomingMessage } from "node:http";
import { Readable } from "node:stream";

import { expect } from "chai";

import { RequestError } from "../../../src/errors.js";
import { readJsonBody } from "../../../src/http/request-body.js";

const LIMIT_BYTES = 64;
const JSON_TYPE = { "content-type": "application/json" };

/** Builds a request whose body stream yields `body` in one chunk. */
function fakeRequest(body: string | Buffer, headers: IncomingHttpHeaders): IncomingMessage {
  const bytes = typeof body === "string" ? Buffer.from(body, "utf8") : body;
  return Object.assign(Readable.from([bytes]), { headers }) as unknown as IncomingMessage;
}

/** Calls readJsonBody and returns the RequestError that it rejects with. */
async function rejectionOf(
  body: string | Buffer,
  headers: IncomingHttpHeaders,
): Promise<RequestError> {
  try {
    await readJsonBody(fakeRequest(body, headers), LIMIT_BYTES);
  } catch (error) {
    expect(error).to.be.instanceOf(RequestError);
    return error as RequestError;
  }
  expect.fail("readJsonBody accepted the request");
}

describe("readJsonBody", () => {
  it("readJsonBody returns the parsed value and the text", async () => {
    const text = '{"order_id": 42, "name": "Zoë"}';

    const body = await readJsonBody(fakeRequest(text, JSON_TYPE), LIMIT_BYTES);

    expect(body).to.deep.equal({ value: { order_id: 42, name: "Zoë" }, text });
  });

  it("readJsonBody keeps big integers in the text", async () => {
    const text = '{"order_id": 12345678901234567890}';

    const body = await readJsonBody(fakeRequest(text, JSON_TYPE), LIMIT_BYTES);

    expect(body.text).to.equal(text);
  });

  for (const contentType of [
    "application/json; charset=utf-8",
    "application/json; charset=UTF-8",
    "application/json; charset=utf8",
    "Application/JSON",
  ]) {
    it(`readJsonBody accepts Content-Type ${contentType}`, async () => {
      const body = await readJsonBody(
        fakeRequest('{"a":1}', { "content-type": contentType }),
        LIMIT_BYTES,
      );

      expect(body.value).to.deep.equal({ a: 1 });
    });
  }

  it("readJsonBody accepts Content-Encoding identity", async () => {
    const headers = { ...JSON_TYPE, "content-encoding": "identity" };

    const body = await readJsonBody(fakeRequest('{"a":1}', headers), LIMIT_BYTES);

    expect(body.value).to.deep.equal({ a: 1 });
  });

  it("readJsonBody accepts a body of exactly the limit", async () => {
    const text = `{"a":"${"x".repeat(LIMIT_BYTES - 8)}"}`;
    expect(Buffer.byteLength(text)).to.equal(LIMIT_BYTES);

    const body = await readJsonBody(fakeRequest(text, JSON_TYPE), LIMIT_BYTES);

    expect(body.text).to.equal(text);
  });

  const unsupported: { name: string; headers: IncomingHttpHeaders }[] = [
    { name: "no Content-Type", headers: {} },
    { name: "Content-Type text/plain", headers: { "content-type": "text/plain" } },
    {
      name: "charset latin1",
      headers: { "content-type": "application/json; charset=latin1" },
    },
    {
      name: "Content-Encoding gzip",
      headers: { ...JSON_TYPE, "content-encoding": "gzip" },
    },
    { name: "a Content-Type without a subtype", headers: { "content-type": "json" } },
  ];
  for (const { name, headers } of unsupported) {
    it(`readJsonBody rejects ${name} with 415`, async () => {
      const error = await rejectionOf('{"a":1}', headers);

      expect(error.code).to.equal("UNSUPPORTED_MEDIA_TYPE");
      expect(error.status).to.equal(415);
    });
  }

  it("readJsonBody rejects a malformed Content-Type parameter with 415", async () => {
    const error = await rejectionOf('{"a":1}', { "content-type": "application/json; charset" });

    expect(error.code).to.equal("UNSUPPORTED_MEDIA_TYPE");
    expect(error.status).to.equal(415);
  });

  it("readJsonBody rejects a body over the limit with 413", async () => {
    const text = `{"a":"${"x".repeat(LIMIT_BYTES - 7)}"}`;

    const error = await rejectionOf(text, JSON_TYPE);

    expect(error.code).to.equal("PAYLOAD_TOO_LARGE");
    expect(error.status).to.equal(413);
  });

  it("readJsonBody rejects a Content-Length over the limit with 413", async () => {
    const headers = { ...JSON_TYPE, "content-length": String(LIMIT_BYTES + 1) };

    const error = await rejectionOf('{"a":1}', headers);

    expect(error.code).to.equal("PAYLOAD_TOO_LARGE");
    expect(error.status).to.equal(413);
  });

  it("readJsonBody rejects a body shorter than its Content-Length", async () => {
    const headers = { ...JSON_TYPE, "content-length": "20" };

    const error = await rejectionOf('{"a":1}', headers);

    expect(error.code).to.equal("INVALID_JSON");
    expect(error.status).to.equal(400);
    expect(error.errors).to.deep.equal([{ path: "/body", message: "is incomplete" }]);
  });

  for (const [name, body] of [
    ["a UTF-8 byte order mark", Buffer.from([0xef, 0xbb, 0xbf, ...Buffer.from('{"a":1}')])],
    ["a byte order mark before whitespace", "\ufeff \n{}"],
  ] as const) {
    it(`readJsonBody rejects ${name} with INVALID_JSON`, async () => {
      const error = await rejectionOf(body, JSON_TYPE);

      expect(error.code).to.equal("INVALID_JSON");
      expect(error.message).to.equal(
        "The request body starts with a byte order mark (U+FEFF). Send JSON without it.",
      );
      expect(error.errors).to.deep.equal([
        { path: "/body", message: "starts with a byte order mark" },
      ]);
    });
  }

  it("readJsonBody keeps U+FEFF inside a string", async () => {
    const text = '{"a":"\ufeff"}';

    const body = await readJsonBody(fakeRequest(text, JSON_TYPE), LIMIT_BYTES);

    expect(body.value).to.deep.equal({ a: "\ufeff" });
  });

  const invalid: { name: string; body: string | Buffer; fieldMessage?: string }[] = [
    { name: "an empty body", body: "", fieldMessage: "is empty" },
    { name: "a whitespace-only body", body: " \r\n\t ", fieldMessage: "is empty" },
    { name: "malformed JSON", body: '{"a": 1,' },
    { name: "a truncated string", body: '{"a": "b' },
    {
      name: "bytes that are not UTF-8",
      body: Buffer.from([0x7b, 0x22, 0x61, 0x22, 0x3a, 0x22, 0xff, 0x22, 0x7d]),
      fieldMessage: "is not valid UTF-8",
    },
    {
      name: "an encoded lone surrogate",
      body: Buffer.from([0x22, 0xed, 0xa0, 0x80, 0x22]),
      fieldMessage: "is not valid UTF-8",
    },
  ];
  for (const { name, body, fieldMessage } of invalid) {
    it(`readJsonBody rejects ${name} with INVALID_JSON`, async () => {
      const error = await rejectionOf(body, JSON_TYPE);

      expect(error.code).to.equal("INVALID_JSON");
      expect(error.status).to.equal(400);
      expect(error.errors).to.have.lengthOf(1);
      expect(error.errors?.[0]?.path).to.equal("/body");
      if (fieldMessage !== undefined) {
        expect(error.errors?.[0]?.message).to.equal(fieldMessage);
      }
    });
  }
});
