import { execFile } from "node:child_process";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";

import { expect } from "chai";

import { BrokerProbe, routeQueue, uniqueRoute } from "../support/broker.js";
import { DatabaseProbe } from "../support/database.js";
import { TEST_DATABASE_URL, TEST_RABBITMQ_URL } from "../support/environment.js";

const ROOT = fileURLToPath(new URL("../../", import.meta.url));
const execFileAsync = promisify(execFile);

interface ReplayRun {
  readonly code: number;
  readonly counts: Record<string, unknown> | undefined;
  readonly stderr: string;
}

/** Runs `npm run replay -- ...args` as a user would and parses the counts it prints. */
async function replay(...args: string[]): Promise<ReplayRun> {
  const env = { ...process.env, DATABASE_URL: TEST_DATABASE_URL, RABBITMQ_URL: TEST_RABBITMQ_URL };
  try {
    const { stdout, stderr } = await execFileAsync(
      process.execPath,
      ["--import", "tsx", "scripts/replay.ts", ...args],
      { cwd: ROOT, env },
    );
    return { code: 0, counts: JSON.parse(stdout), stderr };
  } catch (error) {
    const failure = error as { code: number; stdout: string; stderr: string };
    const counts = failure.stdout.trim() === "" ? undefined : JSON.parse(failure.stdout);
    return { code: failure.code, counts, stderr: failure.stderr };
  }
}

describe("npm run replay", () => {
  let broker: BrokerProbe;
  let database: DatabaseProbe;

  before(() => {
    broker = new BrokerProbe();
    database = new DatabaseProbe();
  });

  after(async () => {
    await broker?.close();
    await database?.close();
  });

  it("publishes failed events with their original uid, timestamp and data", async () => {
    const route = uniqueRoute();
    const first = await database.insertEvent(
      route,
      { n: 1, big: 12345678901234567890n.toString() },
      "failed",
    );
    const second = await database.insertEvent(route, { n: 2 }, "failed");

    const run = await replay("--queue", routeQueue(route));

    expect(run.code).to.equal(0);
    expect(run.counts).to.deep.equal({ matched: 2, published: 2, failed: 0 });
    const messages = await broker.drain(routeQueue(route));
    const rows = await database.rowsFor(route);
    expect(messages.map((message) => message.messageId)).to.deep.equal([first, second]);
    expect(messages.map((message) => message.body)).to.deep.equal(
      rows.map((row) => ({
        event_uid: row.event_uid,
        event_timestamp: row.event_timestamp.toISOString(),
        event_data: row.event_data,
      })),
    );
    expect(rows.map((row) => row.status)).to.deep.equal(["published", "published"]);
  });

  it("publishes nothing the second time", async () => {
    const route = uniqueRoute();
    await database.insertEvent(route, { n: 1 }, "failed");
    await replay("--queue", routeQueue(route));

    const run = await replay("--queue", routeQueue(route));

    expect(run.counts).to.deep.equal({ matched: 0, published: 0, failed: 0 });
    expect(await broker.drain(routeQueue(route))).to.have.length(1);
  });

  it("leaves published events alone unless asked to include them", async () => {
    const route = uniqueRoute();
    const published = await database.insertEvent(route, { n: 1 }, "published");

    const plain = await replay("--queue", routeQueue(route));
    const included = await replay(
      "--queue",
      routeQueue(route),
      "--status",
      "published",
      "--include-published",
    );

    expect(plain.counts).to.deep.equal({ matched: 0, published: 0, failed: 0 });
    expect(included.counts).to.deep.equal({ matched: 1, published: 1, failed: 0 });
    const messages = await broker.drain(routeQueue(route));
    expect(messages.map((message) => message.messageId)).to.deep.equal([published]);
  });

  it("counts without publishing in a dry run", async () => {
    const route = uniqueRoute();
    await database.insertEvent(route, { n: 1 }, "failed");
    await database.insertEvent(route, { n: 2 }, "failed");

    const run = await replay("--queue", routeQueue(route), "--dry-run");

    expect(run.counts).to.deep.equal({ matched: 2, published: 0, failed: 0, dryRun: true });
    expect(await broker.count(routeQueue(route))).to.equal(undefined);
    const rows = await database.rowsFor(route);
    expect(rows.map((row) => row.status)).to.deep.equal(["failed", "failed"]);
  });

  it("filters by time and stops at the limit", async () => {
    const route = uniqueRoute();
    await database.insertEvent(route, { n: 1 }, "failed");
    const since = new Date();
    await new Promise((resolve) => setTimeout(resolve, 5));
    const inWindow = [
      await database.insertEvent(route, { n: 2 }, "failed"),
      await database.insertEvent(route, { n: 3 }, "failed"),
      await database.insertEvent(route, { n: 4 }, "failed"),
    ];

    const run = await replay(
      "--queue",
      routeQueue(route),
      "--since",
      since.toISOString(),
      "--until",
      new Date(Date.now() + 60_000).toISOString(),
      "--limit",
      "2",
    );

    expect(run.counts).to.deep.equal({ matched: 2, published: 2, failed: 0 });
    const messages = await broker.drain(routeQueue(route));
    expect(messages.map((message) => message.messageId)).to.deep.equal(inWindow.slice(0, 2));
  });

  for (const args of [
    ["--status", "published"],
    ["--status", "pending"],
    ["--queue", "a/b"],
    ["--since", "yesterday"],
    ["--limit", "0"],
    ["--unknown"],
  ]) {
    it(`rejects ${args.join(" ")} with exit code 2`, async () => {
      const run = await replay(...args);

      expect(run.code).to.equal(2);
      expect(run.stderr).to.contain("Usage: npm run replay");
    });
  }
});
