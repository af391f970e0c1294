/**
 * Prints the messages of one RabbitMQ queue as JSON lines, so that a user can see what the
 * gateway published. Run it with `npm run consume -- [options] <queue>`.
 */
import { parseArgs } from "node:util";

import {
  AMQPChannelError,
  type AsyncMessage,
  type Channel,
  Connection,
  ConsumerStatus,
  type SyncMessage,
} from "rabbitmq-client";

import { type Config, loadConfigOrExit } from "../src/config.js";

const USAGE = `Usage: npm run consume -- [options] <queue>

Prints each message of <queue>, such as ecommerce/order/create, as one line of JSON and
acknowledges it, which removes it from the queue. It connects to RABBITMQ_URL (default
amqp://guest:guest@127.0.0.1:5672).

Options:
  --keep     requeue the messages instead of acknowledging them, so they stay in the queue
  --follow   wait for new messages until Ctrl-C instead of stopping when the queue is empty
  -h, --help show this help`;

const EXIT_FAILURE = 1;
/** Exit code for a command-line usage error, the convention of shells and getopt-based tools. */
const EXIT_USAGE = 2;

interface Options {
  readonly queue: string;
  readonly keep: boolean;
  readonly follow: boolean;
}

type Message = SyncMessage | AsyncMessage;

/** Parses the command line. Returns undefined after printing --help, and exits on a usage error. */
function parseOptions(argv: string[]): Options | undefined {
  let parsed: ReturnType<typeof parseCommandLine>;
  try {
    parsed = parseCommandLine(argv);
  } catch (error) {
    failUsage(error instanceof Error ? error.message : String(error));
  }

  if (parsed.values.help) {
    console.log(USAGE);
    return undefined;
  }
  const [queue, ...extra] = parsed.positionals;
  if (queue === undefined || queue === "") failUsage("Missing argument: the queue name.");
  if (extra.length > 0) failUsage(`Expected one queue name, got ${parsed.positionals.length}.`);
  return { queue, keep: parsed.values.keep, follow: parsed.values.follow };
}

function parseCommandLine(argv: string[]) {
  return parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      keep: { type: "boolean", default: false },
      follow: { type: "boolean", default: false },
      help: { type: "boolean", short: "h", default: false },
    },
  });
}

function failUsage(problem: string): never {
  console.error(`${problem}\n\n${USAGE}`);
  process.exit(EXIT_USAGE);
}

/** The broker's host and port, for messages that must not show the password in the URL. */
function brokerAddress(config: Config): string {
  return new URL(config.rabbitmqUrl).host || "localhost";
}

/**
 * Opens the connection and waits for it, so that an unreachable broker fails after the
 * connect timeout instead of rabbitmq-client retrying forever.
 */
async function connect(config: Config): Promise<Connection> {
  const connection = new Connection({
    url: config.rabbitmqUrl,
    connectionName: "event-gateway-consume",
    connectionTimeout: config.rabbitmqConnectTimeoutMs,
    retryHigh: config.rabbitmqReconnectMaxMs,
    heartbeat: config.rabbitmqHeartbeatSeconds,
  });
  // Errors before the first connection are reported by onConnect below. Without an `error`
  // listener, the broker closing the connection would crash the process.
  let connected = false;
  connection.on("error", (error) => {
    if (connected) console.error(`RabbitMQ connection error: ${describe(error)}`);
  });
  connection.on("connection", () => {
    if (connected) console.error("RabbitMQ connection restored");
    connected = true;
  });

  try {
    await connection.onConnect(config.rabbitmqConnectTimeoutMs);
  } catch (error) {
    const cause = error instanceof Error && error.cause !== undefined ? error.cause : error;
    throw new Error(
      `Failed to connect to RabbitMQ at ${brokerAddress(config)} within ` +
        `${config.rabbitmqConnectTimeoutMs} ms: ${describe(cause)}. Check RABBITMQ_URL.`,
    );
  }
  return connection;
}

/** Rejects with the broker's NOT_FOUND error when `queue` does not exist, without creating it. */
async function checkQueueExists(connection: Connection, queue: string): Promise<void> {
  const channel = await connection.acquire();
  try {
    await channel.queueDeclare({ queue, passive: true });
  } finally {
    await channel.close();
  }
}

/**
 * Gets messages with basic.get until the queue is empty and returns how many it printed.
 * With `keep`, the messages stay unacknowledged until the end and are then requeued all at
 * once, because a message requeued earlier would be the next one that basic.get returns.
 */
async function drainQueue(connection: Connection, queue: string, keep: boolean): Promise<number> {
  const channel = await connection.acquire();
  let printed = 0;
  let lastDeliveryTag: number | undefined;
  try {
    for (;;) {
      const message = await channel.basicGet({ queue });
      if (message === undefined) break;
      lastDeliveryTag = message.deliveryTag;
      // A message that could not be printed stays unacknowledged, so it is not lost.
      await writeLine(formatMessage(queue, message));
      printed++;
      if (!keep) channel.basicAck({ deliveryTag: message.deliveryTag });
    }
  } finally {
    await releaseChannel(channel, keep ? lastDeliveryTag : undefined);
  }
  return printed;
}

/** Requeues every message up to `lastDeliveryTag`, if given, then closes the channel. */
async function releaseChannel(channel: Channel, lastDeliveryTag: number | undefined) {
  if (!channel.active) return;
  if (lastDeliveryTag !== undefined) {
    channel.basicNack({ deliveryTag: lastDeliveryTag, multiple: true, requeue: true });
  }
  // Closing the channel also requeues any message still unacknowledged.
  await channel.close();
}

/**
 * Prints messages as they arrive until SIGINT or SIGTERM, or until standard output fails,
 * and returns how many it printed. With `keep`, messages stay unacknowledged until the end.
 */
async function followQueue(connection: Connection, queue: string, keep: boolean): Promise<number> {
  const stop = stopSignal();
  const heldMessages = new HeldMessages();
  const requeueHeld = () => heldMessages.requeueAll();
  let printed = 0;

  const consumer = connection.createConsumer(
    // Passive, so the consumer never creates the queue or redeclares it with other arguments.
    { queue, queueOptions: { passive: true } },
    async (message) => {
      try {
        await writeLine(formatMessage(queue, message));
      } catch (error) {
        stop.fail(error);
        return ConsumerStatus.REQUEUE;
      }
      printed++;
      return keep ? heldMessages.hold() : ConsumerStatus.ACK;
    },
  );
  consumer.on("error", (error) => {
    console.error(`Consumer error: ${describe(error)}`);
    requeueHeld();
  });
  connection.on("error", requeueHeld);

  try {
    await stop.promise;
  } finally {
    connection.off("error", requeueHeld);
    requeueHeld();
    await consumer.close();
  }
  return printed;
}

/**
 * Messages that --keep leaves unacknowledged while following. A message requeued at once
 * would be delivered again at once, so each message handler waits until they are released.
 */
class HeldMessages {
  private release: (status: ConsumerStatus) => void = () => {};
  private released = this.nextRelease();

  /** Resolves with REQUEUE at the next requeueAll(). */
  hold(): Promise<ConsumerStatus> {
    return this.released;
  }

  /**
   * Requeues the messages held so far. Called on every consumer or connection error too,
   * because the consumer recovers only after all its message handlers have returned.
   */
  requeueAll(): void {
    this.release(ConsumerStatus.REQUEUE);
    this.released = this.nextRelease();
  }

  private nextRelease(): Promise<ConsumerStatus> {
    return new Promise((resolve) => {
      this.release = resolve;
    });
  }
}

interface StopSignal {
  /** Resolves at SIGINT or SIGTERM, and rejects after fail(). */
  readonly promise: Promise<void>;
  fail(error: unknown): void;
}

function stopSignal(): StopSignal {
  let fail: (error: unknown) => void = () => {};
  const promise = new Promise<void>((resolve, reject) => {
    fail = reject;
    process.once("SIGINT", () => resolve());
    process.once("SIGTERM", () => resolve());
  });
  return { promise, fail };
}

/** Formats one output line: the properties that identify the message, and its body. */
function formatMessage(queue: string, message: Message): string {
  return JSON.stringify({
    queue,
    message_id: message.messageId ?? null,
    type: message.type ?? null,
    timestamp: formatTimestamp(message.timestamp),
    content_type: message.contentType ?? null,
    redelivered: message.redelivered,
    body: decodeBody(message.body),
  });
}

/** Formats an AMQP timestamp, in whole seconds since the epoch, as ISO 8601 when in range. */
function formatTimestamp(seconds: number | undefined): string | number | null {
  if (seconds === undefined) return null;
  const date = new Date(seconds * 1000);
  return Number.isNaN(date.getTime()) ? seconds : date.toISOString();
}

/**
 * Decodes the body as JSON when it parses, else as UTF-8 text. rabbitmq-client already decodes
 * text/plain bodies to strings and application/json bodies to values.
 */
function decodeBody(body: unknown): unknown {
  // NOTE: rabbitmq-client decodes application/json with JSON.parse, so integers beyond
  // 2^53 print rounded here although the message itself contains every digit.
  if (!Buffer.isBuffer(body)) return body;
  const text = body.toString("utf8");
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}

/** Resolves once the line is written, so that a message is acknowledged only after that. */
function writeLine(line: string): Promise<void> {
  return new Promise((resolve, reject) => {
    process.stdout.write(`${line}\n`, (error) => (error ? reject(error) : resolve()));
  });
}

function describe(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/** Describes `error` in one line, naming the queue when the broker did not find it. */
function describeFailure(error: unknown, queue: string): string {
  if (error instanceof AMQPChannelError && error.code === "NOT_FOUND") {
    const name = JSON.stringify(queue);
    return `Queue ${name} not found. The gateway creates it when it publishes its first event.`;
  }
  if (error instanceof Error && (error as NodeJS.ErrnoException).code === "EPIPE") {
    return "Standard output was closed, so the messages not yet printed stay in the queue.";
  }
  return describe(error);
}

function summarize(printed: number, keep: boolean): string {
  const noun = printed === 1 ? "message" : "messages";
  return `${printed} ${noun} printed and ${keep ? "requeued" : "acknowledged"}.`;
}

async function main(): Promise<number> {
  const options = parseOptions(process.argv.slice(2));
  if (options === undefined) return 0;
  const config = loadConfigOrExit();
  // writeLine reports write errors such as EPIPE through its callback. Without a listener,
  // the same error emitted as an event would crash the process.
  process.stdout.on("error", () => {});

  let connection: Connection | undefined;
  try {
    connection = await connect(config);
    await checkQueueExists(connection, options.queue);
    const read = options.follow ? followQueue : drainQueue;
    const printed = await read(connection, options.queue, options.keep);
    console.error(summarize(printed, options.keep));
    return 0;
  } catch (error) {
    console.error(describeFailure(error, options.queue));
    return EXIT_FAILURE;
  } finally {
    await connection?.close();
  }
}

process.exitCode = await main();
