import { createConfig, lint } from "@redocly/openapi-core";
import { expect } from "chai";

import { OPENAPI_PATH } from "../../src/http/api.js";

describe("openapi/openapi.yaml", () => {
  it("passes Redocly's recommended-strict rules for OpenAPI 3.1", async () => {
    const config = await createConfig({ extends: ["recommended-strict"] });

    const problems = await lint({ ref: OPENAPI_PATH, config });

    const described = problems.map(
      (problem) => `${problem.ruleId} at ${problem.location[0]?.pointer}: ${problem.message}`,
    );
    expect(described).to.deep.equal([]);
  });
});
