import { once } from "node:events";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";

import { expect } from "chai";

import { respondToClientErrors } from "../../../src/http/client-errors.js";
import { createLogger } from "../../../src/logger.js";
import { sendRaw } from "../../support/http.js";
import { LogCapture } from "../../support/logs.js";

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

describe("respondToClientErrors", () => {
  let server: Server;
  let port: number;
  let logs: LogCapture;

  before(async () => {
    logs = new LogCapture();
    server = createServer(
      { headersTimeout: 200, requestTimeout: 400, connectionsCheckingInterval: 50 },
      (request, response) => {
        // /early sends its headers before the body has arrived.
        if (request.url === "/early") response.flushHeaders();
        request.resume();
        request.on("end", () => response.end("{}"));
      },
    );
    respondToClientErrors(server, createLogger("debug", logs));
    server.listen(0, "127.0.0.1");
    await once(server, "listening");
    port = (server.address() as AddressInfo).port;
  });

  after(async () => {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  });

  beforeEach(() => {
    logs.lines.length = 0;
  });

  it("respondToClientErrors returns 400 for a raw space in the path", async () => {
    const response = await sendRaw(port, "GET /api/event/a b/c HTTP/1.1\r\nHost: x\r\n\r\n");

    expect(response.statusLine).to.equal("HTTP/1.1 400 Bad Request");
    expect(response.body).to.deep.equal({
      status: "error",
      code: "MALFORMED_REQUEST",
      message:
        "The request is not valid HTTP/1.1: Expected HTTP/, RTSP/ or ICE/. Check the request " +
        "line and the headers. Spaces in the path must be percent-encoded as %20.",
    });
  });

  it("respondToClientErrors returns 400 for an unknown method", async () => {
    const response = await sendRaw(port, "BREW /pot HTTP/1.1\r\nHost: x\r\n\r\n");

    expect(response.statusLine).to.equal("HTTP/1.1 400 Bad Request");
    expect(response.body).to.deep.equal({
      status: "error",
      code: "MALFORMED_REQUEST",
      message:
        "The request is not valid HTTP/1.1: Invalid method encountered. Check the request " +
        "line and the headers. Spaces in the path must be percent-encoded as %20.",
    });
  });

  it("respondToClientErrors returns 431 for headers over the limit", async () => {
    const header = `X-Padding: ${"a".repeat(20_000)}\r\n`;

    const response = await sendRaw(port, `GET /healthz HTTP/1.1\r\nHost: x\r\n${header}\r\n`);

    expect(response.statusLine).to.equal("HTTP/1.1 431 Request Header Fields Too Large");
    expect(response.body).to.deep.equal({
      status: "error",
      code: "HEADERS_TOO_LARGE",
      message:
        "The request line and headers exceed the limit of 16384 bytes. Send fewer or shorter headers.",
    });
  });

  it("respondToClientErrors returns 408 when the headers arrive too slowly", async () => {
    const response = await sendRaw(port, "GET /healthz HTTP/1.1\r\nHost: x\r\n");

    expect(response.statusLine).to.equal("HTTP/1.1 408 Request Timeout");
    expect(response.body).to.deep.equal({
      status: "error",
      code: "REQUEST_TIMEOUT",
      message:
        "The request did not arrive in time. Send the headers within 0.2 s and the whole " +
        "request within 0.4 s.",
    });
  });

  it("respondToClientErrors returns 408 when the body arrives too slowly", async () => {
    const head = "POST /api/event/a/b/c HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\n";

    const response = await sendRaw(port, `${head}{"a"`);

    expect(response.statusLine).to.equal("HTTP/1.1 408 Request Timeout");
    expect((response.body as { code?: string }).code).to.equal("REQUEST_TIMEOUT");
  });

  it("respondToClientErrors only closes a connection whose response has begun", async () => {
    const head = "POST /early HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\n";

    const response = await sendRaw(port, `${head}{"a"`);

    expect(response.statusLine).to.equal("HTTP/1.1 200 OK");
    expect(logs.find("client error response sent")).to.deep.equal([]);
    expect(logs.find("client error on a connection that cannot take a response")).to.have.lengthOf(
      1,
    );
  });

  it("respondToClientErrors sends JSON headers, a request id and Connection: close", async () => {
    const response = await sendRaw(port, "BREW /pot HTTP/1.1\r\nHost: x\r\n\r\n");

    expect(response.headers.get("content-type")).to.equal("application/json; charset=utf-8");
    expect(response.headers.get("connection")).to.equal("close");
    expect(response.headers.get("x-request-id")).to.match(UUID);
    expect(Number(response.headers.get("content-length"))).to.equal(
      Buffer.byteLength(JSON.stringify(response.body)),
    );
  });

  it("respondToClientErrors logs one info line with the request id", async () => {
    const response = await sendRaw(port, "BREW /pot HTTP/1.1\r\nHost: x\r\n\r\n");

    expect(logs.lines).to.have.lengthOf(1);
    const [line] = logs.lines;
    expect(line?.level).to.equal("info");
    expect(line?.msg).to.equal("client error response sent");
    expect(line?.requestId).to.equal(response.headers.get("x-request-id"));
    expect(line?.errorCode).to.equal("MALFORMED_REQUEST");
    expect(line?.res).to.deep.equal({ statusCode: 400 });
    expect(line?.nodeErrorCode).to.equal("HPE_INVALID_METHOD");
  });
});
