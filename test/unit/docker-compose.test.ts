import { readFile } from "node:fs/promises";

import { parseYaml } from "@redocly/openapi-core";
import { expect } from "chai";

const COMPOSE_FILE = new URL("../../docker-compose.yml", import.meta.url);

interface ComposeFile {
  readonly services: Record<string, { readonly ports?: readonly string[] }>;
}

async function readComposeFile(): Promise<ComposeFile> {
  return parseYaml(await readFile(COMPOSE_FILE, "utf8")) as ComposeFile;
}

describe("docker-compose.yml", () => {
  it("publishes every port on 127.0.0.1 only", async () => {
    const { services } = await readComposeFile();

    const published = Object.entries(services).flatMap(([name, service]) =>
      (service.ports ?? []).map((port) => `${name} ${port}`),
    );
    expect(published).not.to.be.empty;
    for (const entry of published) {
      expect(entry).to.match(/^\S+ 127\.0\.0\.1:\d+:\d+$/);
    }
  });

  it("publishes PostgreSQL's port for psql on the host", async () => {
    const { services } = await readComposeFile();

    expect(services.postgres?.ports).to.deep.equal(["127.0.0.1:5432:5432"]);
  });
});
