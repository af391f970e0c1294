import { execFile } from "node:child_process";
import { randomBytes } from "node:crypto";
import { promisify } from "node:util";

import amqp, { type Channel, type ChannelModel, type Options } from "amqplib";

import type { EventRoute } from "../../src/events/event.js";
import { TEST_RABBITMQ_URL } from "./environment.js";

export interface ReceivedMessage {
  /** The body exactly as published. */
  readonly text: string;
  readonly body: unknown;
  readonly messageId: string | undefined;
  readonly contentType: string | undefined;
  readonly type: string | undefined;
  readonly timestamp: number | undefined;
  readonly persistent: boolean;
}

/** Queues of the routes that uniqueRoute() returned in this process. */
const uniqueRouteQueues = new Set<string>();

/**
 * Returns a route no other test uses, so its queue and rows belong to one test. Its queue
 * name starts with `test-`, and deleteUniqueRouteQueues() deletes it at the end of the run.
 */
export function uniqueRoute(): EventRoute {
  const route = {
    solution: `test-${randomBytes(5).toString("hex")}`,
    model: "order",
    action: "create",
  };
  uniqueRouteQueues.add(routeQueue(route));
  return route;
}

export function routeQueue(route: EventRoute): string {
  return `${route.solution}/${route.model}/${route.action}`;
}

/**
 * Reads and manages queues through amqplib, a client independent of the service's, which
 * also returns message bodies as raw bytes. It reconnects on demand after fault tests
 * stopped the broker.
 */
export class BrokerProbe {
  private connection: Promise<ChannelModel> | undefined;
  private readonly queues = new Set<string>();

  /** Takes and acknowledges every message now in `queue`; a missing queue has none. */
  async drain(queue: string): Promise<ReceivedMessage[]> {
    this.queues.add(queue);
    return this.withChannel(async (channel) => {
      const messages: ReceivedMessage[] = [];
      for (;;) {
        const message = await channel.get(queue, { noAck: true });
        if (message === false) return messages;
        const text = message.content.toString("utf8");
        messages.push({
          text,
          body: JSON.parse(text),
          messageId: message.properties.messageId,
          contentType: message.properties.contentType,
          type: message.properties.type,
          timestamp: message.properties.timestamp,
          persistent: message.properties.deliveryMode === 2,
        });
      }
    }).catch((error) => {
      if (isNotFound(error)) return [];
      throw error;
    });
  }

  /** Returns the number of messages in `queue`, or undefined when it does not exist. */
  async count(queue: string): Promise<number | undefined> {
    this.queues.add(queue);
    return this.withChannel(
      async (channel) => (await channel.checkQueue(queue)).messageCount,
    ).catch((error) => {
      if (isNotFound(error)) return undefined;
      throw error;
    });
  }

  async declareQueue(queue: string, options: Options.AssertQueue): Promise<void> {
    this.queues.add(queue);
    await this.withChannel((channel) => channel.assertQueue(queue, options));
  }

  async deleteQueue(queue: string): Promise<void> {
    await this.withChannel((channel) => channel.deleteQueue(queue));
  }

  /** Deletes every queue this probe touched, then closes the connection. */
  async close(): Promise<void> {
    for (const queue of this.queues) {
      await this.deleteQueue(queue).catch(() => undefined);
    }
    const connection = await this.connection?.catch(() => undefined);
    await connection?.close().catch(() => undefined);
  }

  private async withChannel<T>(work: (channel: Channel) => Promise<T>): Promise<T> {
    const connection = await this.connect();
    const channel = await connection.createChannel();
    // A failed passive declare closes the channel with an error event. The awaited call
    // rejects as well, so the event needs no handling of its own.
    channel.on("error", () => undefined);
    try {
      return await work(channel);
    } finally {
      await channel.close().catch(() => undefined);
    }
  }

  private connect(): Promise<ChannelModel> {
    if (this.connection === undefined) {
      const connection = amqp.connect(TEST_RABBITMQ_URL);
      this.connection = connection;
      connection.then(
        (model) => {
          model.on("error", () => undefined);
          model.on("close", () => {
            if (this.connection === connection) this.connection = undefined;
          });
        },
        () => {
          if (this.connection === connection) this.connection = undefined;
        },
      );
    }
    return this.connection;
  }
}

/**
 * Deletes the queue of every route that uniqueRoute() returned so far, including queues
 * that tests posted to without draining. Queues that do not exist are skipped.
 */
export async function deleteUniqueRouteQueues(): Promise<void> {
  const probe = new BrokerProbe();
  try {
    for (const queue of uniqueRouteQueues) {
      await probe.deleteQueue(queue);
      uniqueRouteQueues.delete(queue);
    }
  } finally {
    await probe.close();
  }
}

function isNotFound(error: unknown): boolean {
  return (error as { code?: number }).code === 404;
}

const execFileAsync = promisify(execFile);

/** Stops the RabbitMQ application on this machine; its Erlang node keeps running. */
export async function stopBroker(): Promise<void> {
  await execFileAsync("rabbitmqctl", ["stop_app"]);
}

/** Starts the RabbitMQ application again; resolves once it accepts connections. */
export async function startBroker(): Promise<void> {
  await execFileAsync("rabbitmqctl", ["start_app"]);
  await execFileAsync("rabbitmqctl", ["await_startup"]);
}
