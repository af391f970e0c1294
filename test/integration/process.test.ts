import { type ChildProcess, spawn } from "node:child_process";
import { once } from "node:events";
import { request } from "node:http";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";

import { expect } from "chai";

import { BrokerProbe, routeQueue, uniqueRoute } from "../support/broker.js";
import { DatabaseProbe } from "../support/database.js";
import { TEST_DATABASE_URL, TEST_RABBITMQ_URL } from "../support/environment.js";
import { eventPath } from "../support/http.js";
import type { LogLine } from "../support/logs.js";

const ROOT = fileURLToPath(new URL("../../", import.meta.url));

const NODE_MAIN = [process.execPath, "--import", "tsx", "src/main.ts"];
const NPM_START = ["npm", "start"];

/**
 * The service in a child process that logs to `lines`. The child leads its own process
 * group, so kill() also ends a service that outlived the npm process above it.
 */
class ServiceProcess {
  readonly lines: LogLine[] = [];
  readonly child: ChildProcess;
  readonly exited: Promise<number | null>;

  constructor(env: NodeJS.ProcessEnv, command: readonly string[] = NODE_MAIN) {
    const [file = "", ...args] = command;
    this.child = spawn(file, args, {
      cwd: ROOT,
      env: {
        ...process.env,
        PORT: "0",
        DATABASE_URL: TEST_DATABASE_URL,
        RABBITMQ_URL: TEST_RABBITMQ_URL,
        ...env,
      },
      stdio: ["ignore", "pipe", "inherit"],
      detached: true,
    });
    this.exited = once(this.child, "exit").then(([code]) => code as number | null);
    // npm prints the script's command line before the service's JSON lines.
    createInterface({ input: this.child.stdout as NodeJS.ReadableStream }).on("line", (line) => {
      if (line.startsWith("{")) this.lines.push(JSON.parse(line) as LogLine);
    });
  }

  /** Resolves with the base URL once the service logs that it started. */
  async started(): Promise<string> {
    const line = await this.logged("service started", 15_000);
    return line.url as string;
  }

  /** Resolves with the first line whose message is `message`. Rejects after `timeoutMs`. */
  async logged(message: string, timeoutMs: number): Promise<LogLine> {
    for (let waited = 0; waited < timeoutMs; waited += 50) {
      const line = this.lines.find((candidate) => candidate.msg === message);
      if (line !== undefined) return line;
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    throw new Error(`the service did not log "${message}" within ${timeoutMs} ms`);
  }

  kill(): void {
    try {
      process.kill(-(this.child.pid as number), "SIGKILL");
    } catch {
      // ESRCH: every process of the group has exited.
    }
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

  it("npm start stops on SIGTERM to npm", async () => {
    service = new ServiceProcess({}, NPM_START);
    const url = new URL(await service.started());

    service.child.kill("SIGTERM");

    await service.logged("service stopped", 10_000);
    expect(await service.exited).to.equal(0);
    const refused = await fetch(new URL("/healthz", url)).then(
      () => "accepted",
      () => "refused",
    );
    expect(refused).to.equal("refused");
  });

  it("on SIGTERM under load answers every accepted request and exits within 10 s", async () => {
    const broker = new BrokerProbe();
    const database = new DatabaseProbe();
    service = new ServiceProcess({});
    const url = new URL(await service.started());
    const route = uniqueRoute();
    const outcomes: { sequence: string; status: number | "no response" }[] = [];
    let stopped = false;

    const client = async (clientId: number) => {
      for (let sequence = 0; !stopped; sequence++) {
        const marker = `${clientId}-${sequence}`;
        const status = await fetch(new URL(eventPath(route), url), {
          method: "POST",
          headers: { "content-type": "application/json" },
          body: JSON.stringify({ marker }),
        }).then(
          (response) => response.status,
          () => "no response" as const,
        );
        outcomes.push({ sequence: marker, status });
        if (status === "no response") return;
      }
    };
    const clients = Promise.all(Array.from({ length: 16 }, (_, clientId) => client(clientId)));
    await new Promise((resolve) => setTimeout(resolve, 1000));
    const signalledAt = Date.now();
    service.child.kill("SIGTERM");
    const code = await service.exited;
    const exitMs = Date.now() - signalledAt;
    stopped = true;
    await clients;

    expect(code).to.equal(0);
    expect(exitMs).to.be.below(10_000);
    const answered = outcomes.filter((outcome) => outcome.status !== "no response");
    expect(answered.length).to.be.above(16);
    for (const outcome of answered) expect(outcome.status).to.be.oneOf([200, 500]);
    const rows = await database.rowsFor(route);
    const statusByMarker = new Map(answered.map((outcome) => [outcome.sequence, outcome.status]));
    for (const row of rows) {
      const marker = (row.event_data as { marker: string }).marker;
      expect(statusByMarker.has(marker), `request ${marker} stored but not answered`).to.equal(
        true,
      );
      expect(row.status).to.equal(statusByMarker.get(marker) === 200 ? "published" : "failed");
    }
    const ok = answered.filter((outcome) => outcome.status === 200).length;
    expect(await broker.drain(routeQueue(route))).to.have.length(ok);
    await broker.close();
    await database.close();
  });
});
