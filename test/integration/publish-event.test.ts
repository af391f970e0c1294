import { expect } from "chai";

import { routeQueue, uniqueRoute } from "../support/broker.js";
import { eventPath, postEvent, send } from "../support/http.js";
import { useTestService } from "../support/service.js";

const EXAMPLE = { order_id: 12345, customer: "John Doe", total_amount: 250 };
const UUID_V7 = /^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;
const RFC3339_UTC_MS = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/;

describe("POST /api/event/{solution}/{model}/{action}", () => {
  const fixture = useTestService();

  describe("with a valid event", () => {
    it("stores one row and publishes one message with the documented envelope", async () => {
      // The README's example body on a route of its own, so that the README's queue
      // ecommerce/order/create is left alone.
      const route = uniqueRoute();
      const queue = routeQueue(route);

      const response = await postEvent(fixture.service.url, route, EXAMPLE);

      expect(response.status).to.equal(200);
      const body = response.body as Record<string, string>;
      expect(body.status).to.equal("success");
      expect(body.message).to.equal(`Event published to queue ${queue}`);
      expect(body.event_uid).to.match(UUID_V7);
      expect(body.event_timestamp).to.match(RFC3339_UTC_MS);

      const messages = await fixture.broker.drain(queue);
      expect(messages).to.have.length(1);
      expect(messages[0]?.body).to.deep.equal({
        event_uid: body.event_uid,
        event_timestamp: body.event_timestamp,
        event_data: EXAMPLE,
      });

      const row = await fixture.database.settledRow(body.event_uid as string);
      expect(row?.status).to.equal("published");
      expect(row?.event_data).to.deep.equal(EXAMPLE);
      expect(row?.event_timestamp.toISOString()).to.equal(body.event_timestamp);
      expect([row?.solution, row?.model, row?.action]).to.deep.equal([
        route.solution,
        "order",
        "create",
      ]);
      expect(row?.published_at).to.be.instanceOf(Date);
      expect(row?.last_error).to.equal(null);
    });

    it("sets the message properties that consumers rely on", async () => {
      const route = uniqueRoute();
      const response = await postEvent(fixture.service.url, route, EXAMPLE);
      const body = response.body as Record<string, string>;

      const [message] = await fixture.broker.drain(routeQueue(route));

      expect(message?.messageId).to.equal(body.event_uid);
      expect(message?.contentType).to.equal("application/json");
      expect(message?.type).to.equal(`${route.solution}.order.create`);
      expect(message?.persistent).to.equal(true);
      expect(message?.timestamp).to.equal(
        Math.floor(Date.parse(body.event_timestamp as string) / 1000),
      );
    });

    it("gives two events two ids and two messages", async () => {
      const route = uniqueRoute();

      const first = await postEvent(fixture.service.url, route, { n: 1 });
      const second = await postEvent(fixture.service.url, route, { n: 2 });

      const firstUid = (first.body as Record<string, string>).event_uid;
      const secondUid = (second.body as Record<string, string>).event_uid;
      expect(firstUid).not.to.equal(secondUid);
      const messages = await fixture.broker.drain(routeQueue(route));
      expect(messages.map((message) => message.messageId)).to.deep.equal([firstUid, secondUid]);
      expect(await fixture.database.rowsFor(route)).to.have.length(2);
    });

    it("keeps every digit of numbers beyond 2^53 in the row and the message", async () => {
      const route = uniqueRoute();
      const text =
        '{"big": 123456789012345678901234567890, "exact": 0.1000000000000000055511151231257827}';

      const response = await send(fixture.service.url, "POST", eventPath(route), {
        body: text,
        headers: { "content-type": "application/json" },
      });

      expect(response.status).to.equal(200);
      const uid = (response.body as Record<string, string>).event_uid as string;
      const row = await fixture.database.row(uid);
      expect(row?.event_data_text).to.equal(
        '{"big": 123456789012345678901234567890, "exact": 0.1000000000000000055511151231257827}',
      );
      const [message] = await fixture.broker.drain(routeQueue(route));
      expect(message?.text).to.contain(
        '"event_data":{"big":123456789012345678901234567890,"exact":0.1000000000000000055511151231257827}}',
      );
    });

    it("accepts a charset parameter on the media type", async () => {
      const response = await send(fixture.service.url, "POST", eventPath(uniqueRoute()), {
        body: '{"a": "ü"}',
        headers: { "content-type": "application/json; charset=UTF-8" },
      });

      expect(response.status).to.equal(200);
    });

    it("returns the request id it was given", async () => {
      const response = await postEvent(fixture.service.url, uniqueRoute(), EXAMPLE, {
        headers: { "x-request-id": "trace-42" },
      });

      expect(response.headers.get("x-request-id")).to.equal("trace-42");
      const lines = fixture.service.logs.lines.filter((line) => line.requestId === "trace-42");
      expect(lines.map((line) => line.msg)).to.include("request completed");
    });
  });
});
