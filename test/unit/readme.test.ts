import { readFile } from "node:fs/promises";

import { expect } from "chai";

import { SETTINGS } from "../../src/config.js";
import { HTTP_STATUS } from "../../src/errors.js";

const README = new URL("../../README.md", import.meta.url);

/** Returns the cells of the table rows whose first or second cell starts with a backtick. */
async function readTableRows(): Promise<string[][]> {
  const text = await readFile(README, "utf8");
  return text
    .split("\n")
    .filter((line) => line.startsWith("| "))
    .map((line) =>
      line
        .slice(2, -2)
        .split(" | ")
        .map((cell) => cell.trim()),
    );
}

describe("README.md", () => {
  it("lists every environment variable with its default", async () => {
    const rows = await readTableRows();

    for (const setting of SETTINGS) {
      const row = rows.find((cells) => cells[0] === `\`${setting.variable}\``);
      expect(row, setting.variable).not.to.equal(undefined);
      expect(row?.[1], setting.variable).to.equal(`\`${setting.defaultValue}\``);
    }
  });

  it("lists every error code with its HTTP status", async () => {
    const rows = await readTableRows();

    for (const [code, status] of Object.entries(HTTP_STATUS)) {
      const row = rows.find((cells) => cells[1] === `\`${code}\``);
      expect(row, code).not.to.equal(undefined);
      expect(row?.[0], code).to.equal(String(status));
    }
  });
});
