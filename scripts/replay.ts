/**
 * Publishes stored events again, with their original uid, timestamp and data, and marks
 * them published. Run it with `npm run replay -- [options]`; --help lists the options.
 */
import { parseArgs } from "node:util";

import { type Config, loadConfigOrExit } from "../src/config.js";
import { EventNotPublishedError } from "../src/errors.js";
import type { EventRoute } from "../src/events/event.js";
import { EventIngestion } from "../src/events/ingestion.js";
import { createLogger, type Logger } from "../src/logger.js";
import { connectBroker } from "../src/messaging/broker.js";
import { EventPublisher } from "../src/messaging/event-publisher.js";
import { exponentialBackoff } from "../src/messaging/retry-policy.js";
import { createPool, createPrismaClient } from "../src/persistence/database.js";
import { EventStore, type ReplayFilter } from "../src/persistence/event-store.js";

const USAGE = `Usage: npm run replay -- [options]

Publishes stored events again with their original event_uid, event_timestamp and data,
marks each one published or failed, and prints the counts as JSON. Events are claimed
before they are published, so running it twice, or next to the service, publishes
nothing twice. It uses DATABASE_URL and RABBITMQ_URL like the service.

Options:
  --status S             failed (default) or published
  --include-published    also replay events already published; needed for --status published
  --queue S/M/A          only events of this queue, such as ecommerce/order/create
  --since T              only events with event_timestamp >= T (RFC 3339)
  --until T              only events with event_timestamp < T (RFC 3339); default: now
  --limit N              replay at most N events
  --dry-run              count the matching events and publish nothing
  -h, --help             show this help`;

const EXIT_FAILURE = 1;
/** Exit code for a command-line usage error. */
const EXIT_USAGE = 2;

/** Events claimed and published together; their publishes share the channel in id order. */
const BATCH_SIZE = 100;
/** Interval in ms between progress lines on stderr. */
const PROGRESS_INTERVAL_MS = 2000;
const SEGMENT = /^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$/;

interface ReplayOptions {
  readonly filter: ReplayFilter;
  readonly limit: number;
  readonly dryRun: boolean;
}

interface Counts {
  matched: number;
  published: number;
  failed: number;
}

function failUsage(problem: string): never {
  console.error(`${problem}\n\n${USAGE}`);
  process.exit(EXIT_USAGE);
}

function parseOptions(argv: string[]): ReplayOptions | undefined {
  let values: ReturnType<typeof parseCommandLine>["values"];
  try {
    values = parseCommandLine(argv).values;
  } catch (error) {
    failUsage(error instanceof Error ? error.message : String(error));
  }
  if (values.help) {
    console.log(USAGE);
    return undefined;
  }

  const status = values.status ?? "failed";
  if (status !== "failed" && status !== "published") {
    failUsage(`--status must be failed or published, got ${JSON.stringify(status)}.`);
  }
  if (status === "published" && !values["include-published"]) {
    failUsage("--status published republishes delivered events; add --include-published.");
  }
  const statuses: ReplayFilter["statuses"] =
    values["include-published"] && values.status === undefined ? ["failed", "published"] : [status];

  return {
    filter: {
      statuses,
      route: values.queue === undefined ? undefined : parseQueue(values.queue),
      since: parseTime("--since", values.since),
      // Without an end, the replay stops at events stored before it started, so that it
      // does not chase the events that arrive while it runs.
      until: parseTime("--until", values.until) ?? new Date(),
    },
    limit: parseLimit(values.limit),
    dryRun: values["dry-run"],
  };
}

function parseCommandLine(argv: string[]) {
  return parseArgs({
    args: argv,
    options: {
      status: { type: "string" },
      "include-published": { type: "boolean", default: false },
      queue: { type: "string" },
      since: { type: "string" },
      until: { type: "string" },
      limit: { type: "string" },
      "dry-run": { type: "boolean", default: false },
      help: { type: "boolean", short: "h", default: false },
    },
  });
}

function parseQueue(text: string): EventRoute {
  const [solution, model, action, ...rest] = text.split("/");
  const segments = [solution, model, action];
  if (
    rest.length > 0 ||
    !segments.every((segment) => segment !== undefined && SEGMENT.test(segment))
  ) {
    failUsage(`--queue must look like solution/model/action, got ${JSON.stringify(text)}.`);
  }
  return { solution: solution as string, model: model as string, action: action as string };
}

/** RFC 3339 date-time, section 5.6: a date, a time, and a Z or numeric offset. */
const RFC3339 = /^\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})$/;

function parseTime(option: string, text: string | undefined): Date | undefined {
  if (text === undefined) return undefined;
  const time = Date.parse(text);
  if (!RFC3339.test(text) || Number.isNaN(time)) {
    failUsage(
      `${option} must be an RFC 3339 time such as 2026-12-04T15:00:00Z, got ${JSON.stringify(text)}.`,
    );
  }
  return new Date(time);
}

function parseLimit(text: string | undefined): number {
  if (text === undefined) return Number.POSITIVE_INFINITY;
  const limit = Number(text);
  if (!/^\d+$/.test(text) || limit < 1)
    failUsage(`--limit must be a positive integer, got ${text}.`);
  return limit;
}

/**
 * Claims and publishes matching events batch by batch, until none match, the limit is
 * reached, `stopRequested` returns true, or a whole batch fails (the broker is down).
 */
async function replay(
  store: EventStore,
  ingestion: EventIngestion,
  options: ReplayOptions,
  logger: Logger,
  stopRequested: () => boolean,
): Promise<Counts> {
  const counts: Counts = { matched: 0, published: 0, failed: 0 };
  let lastUid: string | undefined;
  let lastProgressAt = Date.now();

  while (counts.matched < options.limit && !stopRequested()) {
    const size = Math.min(BATCH_SIZE, options.limit - counts.matched);
    const batch = await store.claimForReplay(options.filter, lastUid, size);
    if (batch.length === 0) break;
    counts.matched += batch.length;
    lastUid = batch.at(-1)?.uid;

    const outcomes = await Promise.all(batch.map((event) => publishOne(ingestion, event, logger)));
    const published = outcomes.filter(Boolean).length;
    counts.published += published;
    counts.failed += outcomes.length - published;

    if (published === 0) {
      logger.error({ ...counts }, "stopping: every event of the last batch failed to publish");
      break;
    }
    if (Date.now() - lastProgressAt >= PROGRESS_INTERVAL_MS) {
      logger.info({ ...counts }, "replay progress");
      lastProgressAt = Date.now();
    }
  }
  return counts;
}

async function publishOne(
  ingestion: EventIngestion,
  event: Parameters<EventIngestion["deliver"]>[0],
  logger: Logger,
): Promise<boolean> {
  try {
    await ingestion.deliver(event, logger);
    return true;
  } catch (error) {
    if (!(error instanceof EventNotPublishedError)) throw error;
    logger.warn({ eventUid: event.uid, code: error.code }, "event not published");
    return false;
  }
}

async function main(): Promise<void> {
  const options = parseOptions(process.argv.slice(2));
  if (options === undefined) return;
  const config = loadConfigOrExit();
  const logger = createLogger(config.logLevel, process.stderr);

  const pool = createPool(config, logger);
  const prisma = createPrismaClient(pool);
  const store = new EventStore(prisma);
  try {
    if (options.dryRun) {
      const matched = Math.min(await store.countMatching(options.filter), options.limit);
      console.log(JSON.stringify({ matched, published: 0, failed: 0, dryRun: true }));
      return;
    }
    const counts = await replayWithBroker(config, store, options, logger);
    console.log(JSON.stringify(counts));
    if (counts.failed > 0) process.exitCode = EXIT_FAILURE;
  } finally {
    await prisma.$disconnect();
    await pool.end();
  }
}

async function replayWithBroker(
  config: Config,
  store: EventStore,
  options: ReplayOptions,
  logger: Logger,
): Promise<Counts> {
  const broker = connectBroker(config, logger);
  let ingestion: EventIngestion | undefined;
  const publisher = new EventPublisher(broker, {
    deadlineMs: config.publishDeadlineMs,
    retryPolicy: exponentialBackoff({ initialMs: 50, maxMs: 1000 }),
    logger,
    onLateConfirm: (eventUid) => ingestion?.recordLateConfirm(eventUid),
  });
  ingestion = new EventIngestion(store, publisher, logger);

  let stopRequested = false;
  const requestStop = () => {
    logger.info("stopping after the current batch");
    stopRequested = true;
  };
  process.once("SIGINT", requestStop);
  process.once("SIGTERM", requestStop);
  try {
    await broker.onConnect(config.rabbitmqConnectTimeoutMs, true);
    return await replay(store, ingestion, options, logger, () => stopRequested);
  } finally {
    await ingestion.close(Date.now() + config.shutdownTimeoutMs);
    await publisher.close();
    await broker.close();
  }
}

try {
  await main();
} catch (error) {
  console.error(`Replay failed: ${error instanceof Error ? error.message : String(error)}`);
  process.exitCode = EXIT_FAILURE;
}
