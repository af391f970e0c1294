import { once } from "node:events";
import {
  createServer,
  type IncomingMessage,
  request,
  type Server,
  type ServerResponse,
} from "node:http";
import type { AddressInfo } from "node:net";

import { expect } from "chai";

import { MAX_LOGGED_URL_LENGTH, requestLogging } from "../../../src/http/request-logging.js";
import { createLogger } from "../../../src/logger.js";
import { LogCapture, type LogLine } from "../../support/logs.js";

type Handler = (request: IncomingMessage, response: ServerResponse) => void;

/** An HTTP server on 127.0.0.1 that runs the request logging middleware, then `handler`. */
class LoggedServer {
  readonly logs = new LogCapture();
  private readonly server: Server;

  constructor(handler: Handler) {
    const middleware = requestLogging(createLogger("debug", this.logs));
    this.server = createServer((req, res) => middleware(req, res, () => handler(req, res)));
  }

  async listen(): Promise<string> {
    this.server.listen(0, "127.0.0.1");
    await once(this.server, "listening");
    return `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }

  /** Resolves with the request's log line, which the middleware writes after the response. */
  async requestLine(): Promise<LogLine> {
    for (let waited = 0; waited < 2000; waited += 10) {
      const line = this.logs.lines.find((candidate) => candidate.msg.startsWith("request "));
      if (line !== undefined) return line;
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
    throw new Error("no request line was logged within 2 s");
  }

  close(): Promise<void> {
    this.server.closeAllConnections();
    return new Promise((resolve) => this.server.close(() => resolve()));
  }
}

function respond(status: number): Handler {
  return (_request, response) => {
    response.statusCode = status;
    response.end("{}");
  };
}

describe("requestLogging", () => {
  let server: LoggedServer | undefined;

  afterEach(async () => {
    await server?.close();
    server = undefined;
  });

  async function start(handler: Handler): Promise<string> {
    server = new LoggedServer(handler);
    return server.listen();
  }

  it("requestLogging logs a 200 at info", async () => {
    const url = await start(respond(200));

    await fetch(`${url}/api/event/a/b/c`, { method: "POST" });

    const line = await server?.requestLine();
    expect(line?.level).to.equal("info");
    expect(line?.msg).to.equal("request completed");
    expect(line?.res).to.deep.equal({ statusCode: 200 });
  });

  it("requestLogging logs a 404 at info", async () => {
    const url = await start(respond(404));

    await fetch(`${url}/missing`);

    const line = await server?.requestLine();
    expect(line?.level).to.equal("info");
    expect(line?.msg).to.equal("request completed");
  });

  it("requestLogging logs a 500 at error with its error", async () => {
    const url = await start((request, response) => {
      response.err = new Error("database is down");
      respond(500)(request, response);
    });

    await fetch(`${url}/api/event/a/b/c`, { method: "POST" });

    const line = await server?.requestLine();
    expect(line?.level).to.equal("error");
    expect(line?.msg).to.equal("request failed");
    expect((line?.err as { message?: string })?.message).to.equal("database is down");
  });

  it("requestLogging logs /healthz at debug", async () => {
    const url = await start(respond(200));

    await fetch(`${url}/healthz`);

    const line = await server?.requestLine();
    expect(line?.level).to.equal("debug");
    expect(line?.msg).to.equal("request completed");
  });

  it("requestLogging logs a 503 /readyz at debug", async () => {
    const url = await start(respond(503));

    await fetch(`${url}/readyz?verbose=1`);

    const line = await server?.requestLine();
    expect(line?.level).to.equal("debug");
    expect(line?.res).to.deep.equal({ statusCode: 503 });
    expect(line).not.to.have.property("err");
  });

  it("requestLogging logs a request aborted by the client at warn", async () => {
    let received: () => void = () => undefined;
    const arrived = new Promise<void>((resolve) => {
      received = resolve;
    });
    const url = new URL(await start(() => received()));

    const client = request({ host: url.hostname, port: url.port, path: "/api/event/a/b/c" });
    client.on("error", () => undefined);
    client.end();
    await arrived;
    client.destroy();

    const line = await server?.requestLine();
    expect(line?.level).to.equal("warn");
    expect(line?.msg).to.equal("request aborted");
    expect(line?.res).to.deep.equal({ statusCode: null });
  });

  it("requestLogging truncates a long URL", async () => {
    const url = await start(respond(404));
    const path = `/${"a".repeat(5000)}`;

    await fetch(`${url}${path}`);

    const line = await server?.requestLine();
    const logged = (line?.req as { url?: string })?.url;
    expect(logged).to.have.lengthOf(MAX_LOGGED_URL_LENGTH);
    expect(logged).to.equal(path.slice(0, MAX_LOGGED_URL_LENGTH));
  });
});
