/**
 * Fails when src/generated/openapi.ts differs from what openapi-typescript makes of
 * openapi/openapi.yaml now. Run `npm run generate:openapi` to refresh it.
 */
import { readFile } from "node:fs/promises";
import { fileURLToPath } from "node:url";

import openapiTS, { astToString } from "openapi-typescript";

const root = new URL("../", import.meta.url);
const documentUrl = new URL("openapi/openapi.yaml", root);
const generatedPath = fileURLToPath(new URL("src/generated/openapi.ts", root));

const expected = astToString(await openapiTS(documentUrl));
const committed = await readFile(generatedPath, "utf8");

if (normalize(committed) !== normalize(expected)) {
  console.error(
    `${generatedPath} is stale: it does not match openapi/openapi.yaml. ` +
      "Run `npm run generate:openapi` and commit the result.",
  );
  process.exit(1);
}
console.log("Generated OpenAPI types are up to date.");

/** Strips the header comment that the CLI adds and the API does not, so that only declarations are compared. */
function normalize(source: string): string {
  return source.replace(/^\/\*\*[\s\S]*?\*\/\s*/, "").trim();
}
