import { expect } from "chai";

import { uniqueRoute } from "../support/broker.js";
import { eventPath, send } from "../support/http.js";
import { startTestService, type TestService } from "../support/service.js";

describe("GET and HEAD /healthz and /readyz", () => {
  let service: TestService;

  before(async () => {
    service = await startTestService();
  });

  after(async () => {
    await service?.close();
  });

  it("GET /healthz returns 200 with status ok", async () => {
    const response = await send(service.url, "GET", "/healthz");

    expect(response.status).to.equal(200);
    expect(response.body).to.deep.equal({ status: "ok" });
  });

  it("HEAD /healthz returns 200 without a body", async () => {
    const response = await send(service.url, "HEAD", "/healthz");

    expect(response.status).to.equal(200);
    expect(response.text).to.equal("");
    expect(response.headers.get("content-type")).to.match(/^application\/json\b/);
  });

  it("GET /readyz returns 200 with both dependencies up", async () => {
    const response = await send(service.url, "GET", "/readyz");

    expect(response.status).to.equal(200);
    expect(response.body).to.deep.equal({
      status: "ready",
      checks: { database: "up", broker: "up" },
    });
  });

  it("HEAD /readyz returns 200 without a body", async () => {
    const response = await send(service.url, "HEAD", "/readyz");

    expect(response.status).to.equal(200);
    expect(response.text).to.equal("");
  });

  for (const path of ["/healthz", "/readyz"]) {
    it(`POST ${path} returns 405 allowing GET and HEAD`, async () => {
      const response = await send(service.url, "POST", path);

      expect(response.status).to.equal(405);
      expect(response.headers.get("allow")).to.equal("GET, HEAD");
      expect(response.body).to.deep.equal({
        status: "error",
        code: "METHOD_NOT_ALLOWED",
        message: "Method POST is not allowed here. Use GET or HEAD.",
      });
    });
  }

  it("HEAD on the event route returns 405 allowing POST", async () => {
    const response = await send(service.url, "HEAD", eventPath(uniqueRoute()));

    expect(response.status).to.equal(405);
    expect(response.headers.get("allow")).to.equal("POST");
    expect(response.text).to.equal("");
  });
});
