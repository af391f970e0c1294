import { expect } from "chai";

import { parseMediaType } from "../../../src/http/media-type.js";

describe("parseMediaType", () => {
  it("parseMediaType lower-cases the type and parameter names", () => {
    const mediaType = parseMediaType("Application/JSON; Charset=UTF-8");

    expect(mediaType?.essence).to.equal("application/json");
    expect([...(mediaType?.parameters ?? [])]).to.deep.equal([["charset", "UTF-8"]]);
  });

  it("parseMediaType unquotes quoted parameter values", () => {
    const mediaType = parseMediaType('application/json ; charset="utf-8" ; note="a \\"b\\";c"');

    expect(mediaType?.parameters.get("charset")).to.equal("utf-8");
    expect(mediaType?.parameters.get("note")).to.equal('a "b";c');
  });

  it("parseMediaType accepts a trailing semicolon", () => {
    expect(parseMediaType("application/json;")?.essence).to.equal("application/json");
  });

  for (const value of [
    "application/json; charset",
    'application/json; charset="utf-8',
    "application/json; charset=utf 8",
    "application",
    "application/json/extra",
    "",
  ]) {
    it(`parseMediaType rejects ${JSON.stringify(value)}`, () => {
      expect(parseMediaType(value)).to.equal(undefined);
    });
  }
});
