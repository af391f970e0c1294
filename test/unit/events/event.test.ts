import { expect } from "chai";

import {
  createEvent,
  type EventRoute,
  messageType,
  queueName,
  serializeEnvelope,
} from "../../../src/events/event.js";

const ROUTE: EventRoute = { solution: "shop", model: "order", action: "created" };

/** 2026-12-04T15:27:47.203Z in milliseconds since the epoch. */
const NOW = Date.UTC(2026, 11, 4, 15, 27, 47, 203);

const UUID_V7 = /^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

/** Reads the 48-bit Unix time in milliseconds at the start of a UUID version 7. */
function uuidV7Milliseconds(uid: string): number {
  return Number.parseInt(uid.replaceAll("-", "").slice(0, 12), 16);
}

describe("createEvent", () => {
  it("createEvent assigns a UUID version 7", () => {
    const event = createEvent(ROUTE, '{"a":1}', NOW);

    expect(event.uid).to.match(UUID_V7);
  });

  it("createEvent puts the given time in the uid", () => {
    const event = createEvent(ROUTE, '{"a":1}', NOW);

    expect(uuidV7Milliseconds(event.uid)).to.equal(NOW);
  });

  it("createEvent writes an RFC 3339 UTC timestamp", () => {
    const event = createEvent(ROUTE, '{"a":1}', NOW);

    expect(event.timestamp).to.equal("2026-12-04T15:27:47.203Z");
  });

  it("createEvent writes zero milliseconds in the timestamp", () => {
    const event = createEvent(ROUTE, '{"a":1}', Date.UTC(2027, 0, 1));

    expect(event.timestamp).to.equal("2027-01-01T00:00:00.000Z");
  });

  it("createEvent keeps the route and the data text", () => {
    const event = createEvent(ROUTE, '{"a":1}', NOW);

    expect(event).to.deep.equal({
      uid: event.uid,
      timestamp: "2026-12-04T15:27:47.203Z",
      route: ROUTE,
      dataJson: '{"a":1}',
    });
  });

  it("createEvent gives each event a new uid", () => {
    const first = createEvent(ROUTE, '{"a":1}', NOW);
    const second = createEvent(ROUTE, '{"a":1}', NOW);

    expect(second.uid).not.to.equal(first.uid);
  });

  it("createEvent uses the current time by default", () => {
    const before = Date.now();
    const event = createEvent(ROUTE, '{"a":1}');
    const after = Date.now();

    expect(uuidV7Milliseconds(event.uid)).to.be.within(before, after);
    expect(Date.parse(event.timestamp)).to.equal(uuidV7Milliseconds(event.uid));
  });
});

describe("queueName", () => {
  it("queueName joins the route with slashes", () => {
    expect(queueName(ROUTE)).to.equal("shop/order/created");
  });
});

describe("messageType", () => {
  it("messageType joins the route with dots", () => {
    expect(messageType(ROUTE)).to.equal("shop.order.created");
  });
});

describe("serializeEnvelope", () => {
  it("serializeEnvelope writes the uid, the timestamp and the data", () => {
    const event = createEvent(ROUTE, '{"order_id":42,"items":["a","b"]}', NOW);

    const parsed = JSON.parse(serializeEnvelope(event).toString("utf8"));

    expect(parsed).to.deep.equal({
      event_uid: event.uid,
      event_timestamp: "2026-12-04T15:27:47.203Z",
      event_data: { order_id: 42, items: ["a", "b"] },
    });
  });

  it("serializeEnvelope keeps every digit of a big integer", () => {
    const event = createEvent(ROUTE, '{"amount":123456789012345678901234567890}', NOW);

    const text = serializeEnvelope(event).toString("utf8");

    expect(text).to.equal(
      `{"event_uid":"${event.uid}","event_timestamp":"2026-12-04T15:27:47.203Z",` +
        '"event_data":{"amount":123456789012345678901234567890}}',
    );
  });

  it("serializeEnvelope encodes the data as UTF-8", () => {
    const event = createEvent(ROUTE, '{"name":"Zoë 😀"}', NOW);

    const bytes = serializeEnvelope(event);

    expect(bytes.includes(Buffer.from('"Zoë 😀"', "utf8"))).to.equal(true);
  });
});
