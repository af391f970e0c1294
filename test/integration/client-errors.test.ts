import { expect } from "chai";

import { assertMatchesContract } from "../support/contract.js";
import { type RawResponse, sendRaw } from "../support/http.js";
import { startTestService, type TestService } from "../support/service.js";

describe("requests that Node's HTTP parser rejects", () => {
  let service: TestService;
  let port: number;

  before(async () => {
    service = await startTestService();
    port = Number(new URL(service.url).port);
  });

  after(async () => {
    await service?.close();
  });

  /** Checks the response against the contract as a response to a path without a route. */
  async function expectErrorBody(response: RawResponse): Promise<void> {
    await assertMatchesContract({
      method: "GET",
      path: "/no-route",
      status: Number(response.statusLine.split(" ")[1]),
      headers: new Headers([...response.headers]),
      text: JSON.stringify(response.body),
      body: response.body,
    });
  }

  it("a raw space in the path gets 400 MALFORMED_REQUEST", async () => {
    const response = await sendRaw(port, "POST /api/event/a b/c/d HTTP/1.1\r\nHost: x\r\n\r\n");

    expect(response.statusLine).to.equal("HTTP/1.1 400 Bad Request");
    expect((response.body as { code?: string }).code).to.equal("MALFORMED_REQUEST");
    expect(response.headers.get("connection")).to.equal("close");
    await expectErrorBody(response);
  });

  it("the method BREW gets 400 MALFORMED_REQUEST", async () => {
    const response = await sendRaw(port, "BREW /healthz HTTP/1.1\r\nHost: x\r\n\r\n");

    expect(response.statusLine).to.equal("HTTP/1.1 400 Bad Request");
    expect((response.body as { code?: string }).code).to.equal("MALFORMED_REQUEST");
    await expectErrorBody(response);
  });

  it("headers over 16 KiB get 431 HEADERS_TOO_LARGE", async () => {
    const header = `X-Padding: ${"a".repeat(20_000)}\r\n`;

    const response = await sendRaw(port, `GET /healthz HTTP/1.1\r\nHost: x\r\n${header}\r\n`);

    expect(response.statusLine).to.equal("HTTP/1.1 431 Request Header Fields Too Large");
    expect((response.body as { code?: string }).code).to.equal("HEADERS_TOO_LARGE");
    await expectErrorBody(response);
  });

  it("each rejection logs one line with the response's request id", async () => {
    const response = await sendRaw(port, "BREW /healthz HTTP/1.1\r\nHost: x\r\n\r\n");

    const requestId = response.headers.get("x-request-id");
    expect(requestId).to.be.a("string");
    const lines = service.logs.lines.filter((line) => line.requestId === requestId);
    expect(lines.map((line) => [line.level, line.msg])).to.deep.equal([
      ["info", "client error response sent"],
    ]);
  });

  it("the server bounds the time to receive a request", () => {
    expect(service.server.headersTimeout).to.equal(10_000);
    expect(service.server.requestTimeout).to.equal(30_000);
  });
});
