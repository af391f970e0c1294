import { EventEmitter } from "node:events";

import { expect } from "chai";
import type { Connection, Envelope } from "rabbitmq-client";
import sinon from "sinon";

import { PublishError } from "../../../src/errors.js";
import { createLogger } from "../../../src/logger.js";
import { EventPublisher, type OutboundMessage } from "../../../src/messaging/event-publisher.js";
import { LogCapture } from "../../support/logs.js";

/*
 * sinon's fake timers (@sinonjs/fake-timers 15) replace every timer here, setImmediate and
 * node:timers/promises included. clock.runAllAsync runs them one at a time, with the promise
 * callbacks queued in between, so each one fires at its exact time. clock.tickAsync is used
 * only to stop before a given time, because a zero-delay timer created during a tick fires
 * 1 ms late.
 */

const START = Date.UTC(2026, 11, 4, 15, 27, 47, 203);
const DEADLINE_MS = 1000;

const MESSAGE: OutboundMessage = {
  queue: "shop/order/created",
  messageId: "019ae9c1-7c2b-7000-8000-000000000001",
  type: "shop.order.created",
  timestampMs: START,
  body: Buffer.from('{"order_id":1}'),
};

class FakePublisher extends EventEmitter {
  readonly send = sinon.stub<[Envelope, Buffer], Promise<void>>();
  readonly close = sinon.stub<[], Promise<void>>().resolves();
}

/** The parts of rabbitmq-client's Connection that EventPublisher uses. */
class FakeConnection extends EventEmitter {
  ready = true;
  readonly publisher = new FakePublisher();
  readonly createPublisher = sinon.stub().returns(this.publisher);
  readonly queueDeclare = sinon
    .stub()
    .resolves({ queue: MESSAGE.queue, messageCount: 0, consumerCount: 0 });
}

/**
 * Copies the envelope the way Channel.basicPublish does just before it writes the frames,
 * so that EventPublisher records the message as committed to the connection.
 */
function write(envelope: Envelope): Envelope {
  return Object.assign({}, envelope);
}

function amqpError(code: string): Error {
  return Object.assign(new Error(`fake AMQP error ${code}`), { code });
}

/** Creates a promise that resolves only when the test calls `resolve`. */
function pending(): { promise: Promise<void>; resolve: () => void } {
  let resolve = () => {};
  const promise = new Promise<void>((onResolve) => {
    resolve = onResolve;
  });
  return { promise, resolve };
}

interface Outcome {
  value?: number;
  error?: unknown;
  /** Milliseconds after START at which the publish settled. */
  settledAtMs?: number;
}

/** Records how and when `publishing` settles, without waiting for it. */
function observe(publishing: Promise<number>): Outcome {
  const outcome: Outcome = {};
  publishing.then(
    (value) => {
      outcome.value = value;
      outcome.settledAtMs = Date.now() - START;
    },
    (error: unknown) => {
      outcome.error = error;
      outcome.settledAtMs = Date.now() - START;
    },
  );
  return outcome;
}

describe("EventPublisher", () => {
  let clock: sinon.SinonFakeTimers;
  let connection: FakeConnection;
  let send: FakePublisher["send"];
  let onLateConfirm: sinon.SinonSpy<[string], void>;
  let logs: LogCapture;
  let publisher: EventPublisher;
  /** Milliseconds after START at which each send began. */
  let sendTimesMs: number[];

  beforeEach(() => {
    clock = sinon.useFakeTimers({ now: START });
    connection = new FakeConnection();
    send = connection.publisher.send;
    onLateConfirm = sinon.spy<(messageId: string) => void>(() => {});
    logs = new LogCapture();
    publisher = new EventPublisher(connection as unknown as Connection, {
      deadlineMs: DEADLINE_MS,
      retryPolicy: (attempt) => 100 * 2 ** (attempt - 1),
      logger: createLogger("warn", logs),
      onLateConfirm,
    });
    sendTimesMs = [];
    send.callsFake(async (envelope) => {
      sendTimesMs.push(Date.now() - START);
      write(envelope);
    });
  });

  afterEach(() => {
    clock.restore();
    sinon.restore();
  });

  it("EventPublisher creates a publisher with confirms", () => {
    expect(connection.createPublisher.args).to.deep.equal([[{ confirm: true, maxAttempts: 1 }]]);
  });

  it("publish resolves with 1 when the first attempt is confirmed", async () => {
    const outcome = observe(publisher.publish(MESSAGE));
    await clock.runAllAsync();

    expect(outcome.value).to.equal(1);
    expect(send.callCount).to.equal(1);
  });

  it("publish sends a persistent mandatory message to the queue", async () => {
    const outcome = observe(publisher.publish(MESSAGE));
    await clock.runAllAsync();

    expect(outcome.value).to.equal(1);
    const [envelope, body] = send.firstCall.args;
    expect(write(envelope)).to.deep.equal({
      exchange: "",
      routingKey: "shop/order/created",
      mandatory: true,
      durable: true,
      contentType: "application/json",
      messageId: MESSAGE.messageId,
      type: "shop.order.created",
      timestamp: Math.floor(START / 1000),
      appId: "event-gateway",
    });
    expect(body).to.equal(MESSAGE.body);
  });

  it("publish declares an existing queue passively, once", async () => {
    const first = observe(publisher.publish(MESSAGE));
    const second = observe(publisher.publish({ ...MESSAGE, messageId: "second" }));
    await clock.runAllAsync();

    expect(first.value).to.equal(1);
    expect(second.value).to.equal(1);
    expect(connection.queueDeclare.args).to.deep.equal([[{ queue: MESSAGE.queue, passive: true }]]);
  });

  it("publish declares a missing queue as durable", async () => {
    connection.queueDeclare.onFirstCall().rejects(amqpError("NOT_FOUND"));

    const outcome = observe(publisher.publish(MESSAGE));
    await clock.runAllAsync();

    expect(outcome.value).to.equal(1);
    expect(connection.queueDeclare.args).to.deep.equal([
      [{ queue: MESSAGE.queue, passive: true }],
      [{ queue: MESSAGE.queue, durable: true }],
    ]);
  });

  it("publish retries an unsent message with backoff", async () => {
    send.onCall(0).callsFake(async () => {
      sendTimesMs.push(Date.now() - START);
      throw amqpError("TIMEOUT");
    });
    send.onCall(1).callsFake(async () => {
      sendTimesMs.push(Date.now() - START);
      throw amqpError("TIMEOUT");
    });

    const outcome = observe(publisher.publish(MESSAGE));
    await clock.runAllAsync();

    expect(outcome.value).to.equal(3);
    expect(sendTimesMs).to.deep.equal([0, 100, 300]);
  });

  it("publish logs each retry with its attempt and delay", async () => {
    send.onCall(0).rejects(amqpError("TIMEOUT"));
    send.onCall(1).rejects(amqpError("TIMEOUT"));

    const outcome = observe(publisher.publish(MESSAGE));
    await clock.runAllAsync();

    expect(outcome.value).to.equal(3);
    const retries = logs.find("publish attempt failed; retrying");
    expect(retries.map((line) => [line.level, line.attempt, line.retryInMs])).to.deep.equal([
      ["warn", 1, 100],
      ["warn", 2, 200],
    ]);
  });

  it("publish gives up with BROKER_UNAVAILABLE at the deadline", async () => {
    send.callsFake(async () => {
      sendTimesMs.push(Date.now() - START);
      throw amqpError("TIMEOUT");
    });

    const outcome = observe(publisher.publish(MESSAGE));
    await clock.runAllAsync();

    expect(outcome.error).to.be.instanceOf(PublishError);
    expect(outcome.error).to.have.property("code", "BROKER_UNAVAILABLE");
    expect(outcome.error).to.have.property("attempts", 4);
    expect(sendTimesMs).to.deep.equal([0, 100, 300, 700]);
    // The next delay, 800 ms, would end past the deadline, so publish gives up at once.
    expect(outcome.settledAtMs).to.equal(700);
  });

  it("publish does not retry a send that failed after writing", async () => {
    send.callsFake(async (envelope) => {
      write(envelope);
      throw amqpError("CONNECTION_RESET");
    });

    const outcome = observe(publisher.publish(MESSAGE));
    await clock.runAllAsync();

    expect(outcome.error).to.be.instanceOf(PublishError);
    expect(outcome.error).to.have.property("code", "BROKER_UNCONFIRMED");
    expect(outcome.error).to.have.property("attempts", 1);
    expect(send.callCount).to.equal(1);
  });

  it("publish retries a message the broker nacked", async () => {
    send.onFirstCall().callsFake(async (envelope) => {
      write(envelope);
      throw amqpError("NACK");
    });

    const outcome = observe(publisher.publish(MESSAGE));
    await clock.runAllAsync();

    expect(outcome.value).to.equal(2);
    expect(send.callCount).to.equal(2);
  });

  it("publish declares the queue again after basic.return", async () => {
    send.onFirstCall().callsFake(async (envelope) => {
      write(envelope);
      connection.publisher.emit("basic.return", { messageId: MESSAGE.messageId });
    });
    connection.queueDeclare.onSecondCall().rejects(amqpError("NOT_FOUND"));

    const outcome = observe(publisher.publish(MESSAGE));
    await clock.runAllAsync();

    expect(outcome.value).to.equal(2);
    expect(connection.queueDeclare.args).to.deep.equal([
      [{ queue: MESSAGE.queue, passive: true }],
      [{ queue: MESSAGE.queue, passive: true }],
      [{ queue: MESSAGE.queue, durable: true }],
    ]);
  });

  it("publish notices basic.return emitted just after the confirm", async () => {
    // rabbitmq-client 5.0.x emits basic.return from setImmediate, so send() can resolve first.
    send.onFirstCall().callsFake(async (envelope) => {
      write(envelope);
      setImmediate(() => {
        connection.publisher.emit("basic.return", { messageId: MESSAGE.messageId });
      });
    });

    const outcome = observe(publisher.publish(MESSAGE));
    await clock.runAllAsync();

    expect(outcome.value).to.equal(2);
    expect(connection.queueDeclare.callCount).to.equal(2);
  });

  it("publish retries a returned message whose confirm was lost", async () => {
    send.onFirstCall().callsFake(async (envelope) => {
      write(envelope);
      setImmediate(() => {
        connection.publisher.emit("basic.return", { messageId: MESSAGE.messageId });
      });
      throw amqpError("CONNECTION_RESET");
    });

    const outcome = observe(publisher.publish(MESSAGE));
    await clock.runAllAsync();

    expect(outcome.value).to.equal(2);
  });

  it("publish ignores basic.return for another message", async () => {
    send.onFirstCall().callsFake(async (envelope) => {
      write(envelope);
      connection.publisher.emit("basic.return", { messageId: "another" });
    });

    const outcome = observe(publisher.publish(MESSAGE));
    await clock.runAllAsync();

    expect(outcome.value).to.equal(1);
  });

  describe("when a send does not settle", () => {
    let confirm: ReturnType<typeof pending>;
    let envelopes: Envelope[];

    beforeEach(() => {
      confirm = pending();
      envelopes = [];
    });

    it("publish times out a written message as BROKER_UNCONFIRMED", async () => {
      send.callsFake((envelope) => {
        write(envelope);
        return confirm.promise;
      });

      const outcome = observe(publisher.publish(MESSAGE));
      await clock.tickAsync(DEADLINE_MS - 1);
      expect(outcome.settledAtMs).to.equal(undefined);
      await clock.runAllAsync();

      expect(outcome.error).to.be.instanceOf(PublishError);
      expect(outcome.error).to.have.property("code", "BROKER_UNCONFIRMED");
      expect(outcome.error).to.have.property("attempts", 1);
      expect(outcome.settledAtMs).to.equal(DEADLINE_MS);
    });

    it("publish reports a confirm that arrives after the deadline", async () => {
      send.callsFake((envelope) => {
        write(envelope);
        return confirm.promise;
      });
      const outcome = observe(publisher.publish(MESSAGE));
      await clock.runAllAsync();
      expect(outcome.error).to.have.property("code", "BROKER_UNCONFIRMED");
      expect(onLateConfirm.callCount).to.equal(0);

      confirm.resolve();
      await clock.runAllAsync();

      expect(onLateConfirm.args).to.deep.equal([[MESSAGE.messageId]]);
      expect(logs.find("broker confirmed a message after its deadline")).to.have.lengthOf(1);
    });

    it("publish reports no late confirm for a returned message", async () => {
      send.callsFake((envelope) => {
        write(envelope);
        return confirm.promise;
      });
      observe(publisher.publish(MESSAGE));
      await clock.runAllAsync();

      connection.publisher.emit("basic.return", { messageId: MESSAGE.messageId });
      confirm.resolve();
      await clock.runAllAsync();

      expect(onLateConfirm.callCount).to.equal(0);
    });

    it("publish times out an unsent message as BROKER_UNAVAILABLE", async () => {
      send.callsFake((envelope) => {
        envelopes.push(envelope);
        return confirm.promise;
      });

      const outcome = observe(publisher.publish(MESSAGE));
      await clock.runAllAsync();

      expect(outcome.error).to.be.instanceOf(PublishError);
      expect(outcome.error).to.have.property("code", "BROKER_UNAVAILABLE");
      expect(outcome.error).to.have.property("attempts", 1);
      expect(outcome.settledAtMs).to.equal(DEADLINE_MS);
    });

    it("publish stops an abandoned send from writing later", async () => {
      send.callsFake((envelope) => {
        envelopes.push(envelope);
        return confirm.promise;
      });
      const outcome = observe(publisher.publish(MESSAGE));
      await clock.runAllAsync();
      expect(outcome.error).to.have.property("code", "BROKER_UNAVAILABLE");

      const [envelope] = envelopes;
      expect(envelope).not.to.equal(undefined);
      expect(() => write(envelope as Envelope))
        .to.throw()
        .with.property("name", "DeadlineExceeded");
    });

    it("publish reports no late confirm for a send that never wrote", async () => {
      send.callsFake((envelope) => {
        envelopes.push(envelope);
        return confirm.promise;
      });
      observe(publisher.publish(MESSAGE));
      await clock.runAllAsync();

      confirm.resolve();
      await clock.runAllAsync();

      expect(onLateConfirm.callCount).to.equal(0);
    });
  });

  describe("when the broker blocks the connection", () => {
    beforeEach(() => {
      connection.emit("connection.blocked", "low on memory");
    });

    it("publish fails at once with BROKER_UNAVAILABLE", async () => {
      const outcome = observe(publisher.publish(MESSAGE));
      await clock.runAllAsync();

      expect(outcome.error).to.be.instanceOf(PublishError);
      expect(outcome.error).to.have.property("code", "BROKER_UNAVAILABLE");
      expect(outcome.error).to.have.property("attempts", 1);
      expect(outcome.settledAtMs).to.equal(0);
      expect(send.callCount).to.equal(0);
    });

    it("publish sends again after connection.unblocked", async () => {
      connection.emit("connection.unblocked");

      const outcome = observe(publisher.publish(MESSAGE));
      await clock.runAllAsync();

      expect(outcome.value).to.equal(1);
    });

    it("publish sends again after the connection reopens", async () => {
      connection.emit("connection");

      const outcome = observe(publisher.publish(MESSAGE));
      await clock.runAllAsync();

      expect(outcome.value).to.equal(1);
    });
  });

  describe("when the connection is not ready", () => {
    beforeEach(() => {
      connection.ready = false;
    });

    it("publish waits for the connection before sending", async () => {
      const outcome = observe(publisher.publish(MESSAGE));
      await clock.tickAsync(300);
      expect(send.callCount).to.equal(0);

      connection.ready = true;
      connection.emit("connection");
      await clock.runAllAsync();

      expect(outcome.value).to.equal(1);
      expect(sendTimesMs).to.deep.equal([300]);
    });

    it("publish fails when the connection stays closed", async () => {
      const outcome = observe(publisher.publish(MESSAGE));
      await clock.runAllAsync();

      expect(outcome.error).to.be.instanceOf(PublishError);
      expect(outcome.error).to.have.property("code", "BROKER_UNAVAILABLE");
      expect(outcome.error).to.have.property("attempts", 1);
      expect(outcome.settledAtMs).to.equal(DEADLINE_MS);
      expect(send.callCount).to.equal(0);
    });
  });

  it("close closes the publisher", async () => {
    await publisher.close();

    expect(connection.publisher.close.callCount).to.equal(1);
  });
});
