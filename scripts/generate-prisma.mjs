// Runs `prisma generate`. Generation never executes Prisma's native schema engine, but
// the CLI downloads it first unless PRISMA_SCHEMA_ENGINE_BINARY names an existing file.
// Pointing that variable at the Node binary lets generation work on machines that
// cannot reach binaries.prisma.sh. The generated client talks to PostgreSQL through
// @prisma/adapter-pg and needs no engine either.
import { spawnSync } from "node:child_process";
import { createRequire } from "node:module";

const prismaCli = createRequire(import.meta.url).resolve("prisma/build/index.js");
const env = { ...process.env, PRISMA_HIDE_UPDATE_MESSAGE: "1" };
env.PRISMA_SCHEMA_ENGINE_BINARY ??= process.execPath;

const result = spawnSync(process.execPath, [prismaCli, "generate"], { stdio: "inherit", env });
process.exit(result.status ?? 1);
