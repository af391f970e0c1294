import { setImmediate as nextTurn, setTimeout as sleep } from "node:timers/promises";

import type { Connection, Envelope, Publisher } from "rabbitmq-client";

import { PublishError } from "../errors.js";
import type { Logger } from "../logger.js";
import type { RetryPolicy } from "./retry-policy.js";

/** A message for one queue, sent through the default exchange. */
export interface OutboundMessage {
  readonly queue: string;
  /** Unique per event; retries of the same event reuse it, so consumers can deduplicate. */
  readonly messageId: string;
  /** AMQP `type` property. */
  readonly type: string;
  /** Milliseconds since the epoch; AMQP carries whole seconds. */
  readonly timestampMs: number;
  readonly body: Buffer;
}

export interface EventPublisherOptions {
  /** Total time in ms for one publish, retries included. */
  readonly deadlineMs: number;
  readonly retryPolicy: RetryPolicy;
  readonly logger: Logger;
  /**
   * Called when the broker confirms a message after its publish already failed with
   * BROKER_UNCONFIRMED, so the caller can record that the message was delivered after all.
   */
  readonly onLateConfirm?: (messageId: string) => void;
}

/** Outcome of one failed attempt. `sent` means that the broker may have the message. */
class AttemptFailure extends Error {
  override readonly name = "AttemptFailure";

  constructor(
    readonly reason: string,
    readonly sent: boolean,
    readonly retryable: boolean,
    cause?: unknown,
  ) {
    super(reason, { cause });
  }
}

class DeadlineExceeded extends Error {
  override readonly name = "DeadlineExceeded";
}

/**
 * Records whether rabbitmq-client has started writing a message, and stops it from starting
 * once the attempt is abandoned.
 */
class SendPermit {
  used = false;
  revoked = false;
}

/**
 * Publishes messages with publisher confirms through rabbitmq-client's reconnecting
 * publisher. Each queue is declared once per process. Messages are persistent and
 * `mandatory`, so a message that no queue takes comes back with basic.return: the queue
 * is then declared again and the message retried. Failed attempts are retried with
 * backoff until the deadline, unless the broker may already hold the message, because
 * sending it again would duplicate it.
 */
export class EventPublisher {
  private readonly publisher: Publisher;
  /** Queue name to its declaration, shared by concurrent publishes. */
  private readonly declaredQueues = new Map<string, Promise<void>>();
  /** Message ids the broker returned as unroutable and that no attempt has checked yet. */
  private readonly returnedIds = new Set<string>();
  private blockedReason: string | undefined;
  /** Resolves at the next successful (re)connection; shared by every waiting publish. */
  private nextConnection: Promise<void> | undefined;

  constructor(
    private readonly connection: Connection,
    private readonly options: EventPublisherOptions,
  ) {
    this.publisher = connection.createPublisher({ confirm: true, maxAttempts: 1 });
    // The broker sends basic.return before the basic.ack of the same message.
    // https://www.rabbitmq.com/docs/confirms#when-publishes-are-confirmed
    this.publisher.on("basic.return", (message) => {
      if (message.messageId !== undefined) this.returnedIds.add(message.messageId);
    });
    connection.on("connection.blocked", (reason) => {
      this.blockedReason = reason === "" ? "no reason given" : reason;
    });
    connection.on("connection.unblocked", () => {
      this.blockedReason = undefined;
    });
    connection.on("connection", () => {
      this.blockedReason = undefined;
    });
  }

  /**
   * Publishes `message` and resolves with the number of attempts once the broker confirms
   * it. Rejects with PublishError when the deadline passes or a failure cannot be retried.
   */
  async publish(message: OutboundMessage, logger = this.options.logger): Promise<number> {
    const deadline = Date.now() + this.options.deadlineMs;

    for (let attempt = 1; ; attempt++) {
      let failure: AttemptFailure;
      try {
        await this.attempt(message, deadline);
        return attempt;
      } catch (error) {
        failure = toAttemptFailure(error);
      }

      const delayMs = this.options.retryPolicy(attempt);
      if (!failure.retryable || Date.now() + delayMs >= deadline) {
        const code = failure.sent ? "BROKER_UNCONFIRMED" : "BROKER_UNAVAILABLE";
        throw new PublishError(code, failure.reason, attempt, failure.cause);
      }
      logger.warn(
        { err: failure.cause, queue: message.queue, attempt, retryInMs: delayMs },
        "publish attempt failed; retrying",
      );
      await sleep(delayMs);
    }
  }

  /** Whether the broker has blocked publishing on this connection (a resource alarm). */
  get blocked(): boolean {
    return this.blockedReason !== undefined;
  }

  /** Closes the publisher's channel; publishes still waiting for a confirm are rejected. */
  async close(): Promise<void> {
    await this.publisher.close();
  }

  private async attempt(message: OutboundMessage, deadline: number): Promise<void> {
    if (this.blockedReason !== undefined) {
      // The broker's own reason is logged by broker.ts; clients get a fixed text.
      throw new AttemptFailure("broker is blocking publishers (resource alarm)", false, false);
    }
    if (!this.connection.ready) {
      try {
        await this.waitForConnection(deadline);
      } catch (error) {
        throw new AttemptFailure("broker connection is not open", false, false, error);
      }
    }
    await this.declareQueueBefore(message.queue, deadline);
    await this.send(message, deadline);
  }

  /** Waits until the connection reopens, but not past `deadline`. */
  private waitForConnection(deadline: number): Promise<void> {
    this.nextConnection ??= new Promise<void>((resolve) => {
      this.connection.once("connection", () => {
        this.nextConnection = undefined;
        resolve();
      });
    });
    return beforeDeadline(this.nextConnection, deadline);
  }

  private async declareQueueBefore(queue: string, deadline: number): Promise<void> {
    try {
      await beforeDeadline(this.declareQueue(queue), deadline);
    } catch (error) {
      const reason =
        error instanceof DeadlineExceeded
          ? `timed out declaring queue ${queue}`
          : `declaring queue ${queue} failed`;
      throw new AttemptFailure(reason, false, true, error);
    }
  }

  private async send(message: OutboundMessage, deadline: number): Promise<void> {
    const permit = new SendPermit();
    this.returnedIds.delete(message.messageId);
    const sending = this.publisher.send(createEnvelope(message, permit), message.body);

    try {
      await beforeDeadline(sending, deadline);
    } catch (error) {
      if (error instanceof DeadlineExceeded) this.abandon(sending, permit, message);
      await nextTurn();
      throw this.describeSendFailure(error, permit, message);
    }
    // rabbitmq-client 5.0.x emits basic.return from setImmediate, so the confirm can
    // resolve send() first. The return was read before the ack, so its callback is queued
    // ahead of this one.
    await nextTurn();
    if (this.returnedIds.delete(message.messageId)) {
      this.declaredQueues.delete(message.queue);
      throw new AttemptFailure(`queue ${message.queue} not found; message returned`, false, true);
    }
  }

  private describeSendFailure(
    error: unknown,
    permit: SendPermit,
    message: OutboundMessage,
  ): AttemptFailure {
    if (this.returnedIds.delete(message.messageId)) {
      this.declaredQueues.delete(message.queue);
      return new AttemptFailure(`queue ${message.queue} not found; message returned`, false, true);
    }
    if (error instanceof DeadlineExceeded) {
      return permit.used
        ? new AttemptFailure("no confirm from the broker before the deadline", true, false, error)
        : new AttemptFailure("timed out waiting for a broker channel", false, true, error);
    }
    if (errorCode(error) === "NACK") {
      // A nack means the broker did not take responsibility for the message.
      return new AttemptFailure("broker rejected the message (basic.nack)", false, true, error);
    }
    return permit.used
      ? new AttemptFailure("connection lost before the broker confirmed", true, false, error)
      : new AttemptFailure("broker channel unavailable", false, true, error);
  }

  /**
   * Stops a send that missed its deadline from starting later. If it had already started,
   * a confirm that still arrives is reported through onLateConfirm.
   */
  private abandon(sending: Promise<void>, permit: SendPermit, message: OutboundMessage): void {
    permit.revoked = true;
    sending.then(
      async () => {
        await nextTurn();
        if (!permit.used || this.returnedIds.delete(message.messageId)) return;
        this.options.logger.warn(
          { eventUid: message.messageId, queue: message.queue },
          "broker confirmed a message after its deadline",
        );
        this.options.onLateConfirm?.(message.messageId);
      },
      () => this.returnedIds.delete(message.messageId),
    );
  }

  private declareQueue(queue: string): Promise<void> {
    let declaration = this.declaredQueues.get(queue);
    if (declaration === undefined) {
      declaration = this.assertQueue(queue);
      this.declaredQueues.set(queue, declaration);
      declaration.catch(() => {
        if (this.declaredQueues.get(queue) === declaration) this.declaredQueues.delete(queue);
      });
    }
    return declaration;
  }

  /**
   * Makes sure that `queue` exists. An existing queue is used as it is, whatever its
   * arguments (an operator may have made it a quorum queue or given it a TTL), because
   * declaring it with other arguments fails with 406 PRECONDITION_FAILED. A missing queue
   * is declared durable.
   */
  private async assertQueue(queue: string): Promise<void> {
    const existing = await this.declarePassively(queue);
    if (existing) return;
    try {
      await this.connection.queueDeclare({ queue, durable: true });
      this.options.logger.info({ queue }, "queue declared");
    } catch (error) {
      // Someone declared it with other arguments between the two calls.
      if (errorCode(error) !== "PRECONDITION_FAILED") throw error;
      await this.connection.queueDeclare({ queue, passive: true });
    }
  }

  /** Returns whether `queue` exists. */
  private async declarePassively(queue: string): Promise<boolean> {
    try {
      await this.connection.queueDeclare({ queue, passive: true });
      return true;
    } catch (error) {
      const code = errorCode(error);
      // RESOURCE_LOCKED: the queue exists but is exclusive to another connection.
      // Publishing to it still works.
      if (code === "RESOURCE_LOCKED") return true;
      if (code === "NOT_FOUND") return false;
      throw error;
    }
  }
}

/**
 * Builds the envelope for rabbitmq-client. Channel.basicPublish copies the envelope just
 * before it encodes the frames, which makes the `routingKey` getter the moment the message
 * is committed to the connection. The getter records that moment in `permit`, and throws
 * once the permit is revoked, so that a send still waiting for a channel when its deadline
 * passes can never go out later.
 * NOTE: this relies on Channel.basicPublish copying the envelope once, just before it
 * encodes the frames, as rabbitmq-client 5.0.8 does; package.json pins that version.
 */
function createEnvelope(message: OutboundMessage, permit: SendPermit): Envelope {
  const envelope: Envelope = {
    exchange: "",
    mandatory: true,
    durable: true,
    contentType: "application/json",
    messageId: message.messageId,
    type: message.type,
    timestamp: Math.floor(message.timestampMs / 1000),
    appId: "event-gateway",
  };
  Object.defineProperty(envelope, "routingKey", {
    enumerable: true,
    get() {
      if (permit.revoked) throw new DeadlineExceeded("publish abandoned after its deadline");
      permit.used = true;
      return message.queue;
    },
  });
  return envelope;
}

function beforeDeadline<T>(promise: Promise<T>, deadline: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const expiry = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new DeadlineExceeded()), Math.max(0, deadline - Date.now()));
  });
  return Promise.race([promise, expiry]).finally(() => clearTimeout(timer));
}

function toAttemptFailure(error: unknown): AttemptFailure {
  if (error instanceof AttemptFailure) return error;
  return new AttemptFailure("unexpected publish failure", true, false, error);
}

function errorCode(error: unknown): string | undefined {
  const code = (error as { code?: unknown } | null)?.code;
  return typeof code === "string" ? code : undefined;
}
