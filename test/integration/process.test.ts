import { type ChildProcess, spawn } from "node:child_process";
import { once } from "node:events";
import { request } from "node:http";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";

import { expect } from "chai";

import { BrokerProbe, routeQueue, uniqueRoute } from "../support/broker.js";
import { TEST_DATABASE_URL, TEST_RABBITMQ_URL } from "../support/environment.js";
import { eventPath } from "../support/http.js";
import type { LogLine } from "../support/logs.js";

const ROOT = fileURLToPath(new URL("../../", import.meta.url));

/** The service as `npm start` runs it, in a child process that logs to `lines`. */
class ServiceProcess {
  readonly lines: LogLine[] = [];
  readonly child: ChildProcess;
  readonly exited: Promise<number | null>;

  constructor(env: NodeJS.ProcessEnv) {
    this.child = spawn(process.execPath, ["--import", "tsx", "src/main.ts"], {
      cwd: ROOT,
      env: {
        ...process.env,
        PORT: "0",
        DATABASE_URL: TEST_DATABASE_URL,
        RABBITMQ_URL: TEST_RABBITMQ_URL,
        ...env,
      },
      stdio: ["ignore", "pipe", "inherit"],
    });
    this.exited = once(this.child, "exit").then(([code]) => code as number | null);
    createInterface({ input: this.child.stdout as NodeJS.ReadableStream }).on("line", (line) => {
      this.lines.push(JSON.parse(line) as LogLine);
    });
  }

  /** Resolves with the base URL once the service logs that it started. */
  async started(): Promise<string> {
    for (let waited = 0; waited < 15_000; waited += 50) {
      const line = this.lines.find((candidate) => candidate.msg === "service started");
      if (line !== undefined) return line.url as string;
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    throw new Error("the service did not start within 15 s");
  }

  kill(): void {
    if (this.child.exitCode === null) this.child.kill("SIGKILL");
  }
}

describe("the service process", () => {
  let service: ServiceProcess | undefined;

  afterEach(() => {
    service?.kill();
    service = undefined;
  });

  it("exits with 78 and names each invalid variable", async () => {
    service = new ServiceProcess({ PORT: "http", PUBLISH_DEADLINE_MS: "-1" });

    const code = await service.exited;

    expect(code).to.equal(78);
    const [fatal] = service.lines;
    expect(fatal?.level).to.equal("fatal");
    expect(fatal?.problems).to.deep.equal([
      'PORT must be an integer from 0 to 65535 (got "http")',
      'PUBLISH_DEADLINE_MS must be an integer from 100 to 600000 (got "-1")',
    ]);
  });

  it("on SIGTERM finishes the request in flight, refuses new ones, and exits 0", async () => {
    const broker = new BrokerProbe();
    service = new ServiceProcess({});
    const url = new URL(await service.started());
    const route = uniqueRoute();
    const body = Buffer.from(JSON.stringify({ order_id: 7 }));

    const inFlight = request({
      host: url.hostname,
      port: url.port,
      method: "POST",
      path: eventPath(route),
      headers: { "content-type": "application/json", "content-length": body.length },
    });
    const responded = once(inFlight, "response");
    inFlight.write(body.subarray(0, 5));
    await new Promise((resolve) => setTimeout(resolve, 200));
    service.child.kill("SIGTERM");
    await new Promise((resolve) => setTimeout(resolve, 200));
    const refused = await fetch(new URL("/healthz", url)).then(
      () => "accepted",
      () => "refused",
    );
    inFlight.end(body.subarray(5));
    const [response] = await responded;

    expect(refused).to.equal("refused");
    expect(response.statusCode).to.equal(200);
    const started = Date.now();
    expect(await service.exited).to.equal(0);
    expect(Date.now() - started).to.be.below(10_000);
    expect(service.lines.map((line) => line.msg)).to.include.members([
      "shutting down",
      "service stopped",
    ]);
    expect(await broker.drain(routeQueue(route))).to.have.length(1);
    await broker.close();
  });
});
