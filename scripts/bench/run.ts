/**
 * Measures the service against three references, one phase at a time, with this process as
 * the load generator: the service as `npm start` runs it, an Express server with no I/O,
 * RabbitMQ's confirmed publishes from one process, and a straightforward implementation.
 * Prints the results as Markdown and writes them to BENCHMARKS.md. Run it with
 * `npm run bench -- [options]`; --help lists the options.
 */
import { randomBytes } from "node:crypto";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";

import { emptyBenchTables, QueueAdmin, readPostgresVersion } from "./backends.js";
import { BrokerWatch } from "./broker-watch.js";
import { killChildrenOnExit, REPO_ROOT } from "./children.js";
import { describeMachine } from "./machine.js";
import { type BenchOptions, parseOptions } from "./options.js";
import {
  type BrokerCeilingResult,
  measureBrokerCeiling,
  measureHttpCeiling,
  measureService,
  measureStraightforward,
  type RunSettings,
  WARMUP_SECONDS,
} from "./phases.js";
import { checkTargets, renderReport } from "./report.js";

/** Publishes in flight in the two broker ceiling phases. The ceiling is the faster of them. */
const BROKER_IN_FLIGHT = [32, 256];

const options = parseOptions(process.argv.slice(2));
if (options !== undefined) await main(options);

async function main(options: BenchOptions): Promise<void> {
  // Both reads fail early, before any server starts, when PostgreSQL or RabbitMQ is down.
  const queues = new QueueAdmin();
  const versions = {
    node: process.version,
    postgres: await readPostgresVersion(),
    rabbitmq: await queues.readBrokerVersion(),
  };
  const settings: RunSettings = {
    runId: randomBytes(4).toString("hex"),
    durationSeconds: options.durationSeconds,
    soakSeconds: options.soakSeconds,
    connections: options.connections,
    logDir: await mkdtemp(join(tmpdir(), "event-gateway-bench-")),
  };
  const watch = new BrokerWatch();
  const cleanUp = async () => {
    await watch.close();
    await queues.deleteAll();
    await emptyBenchTables().catch(() => undefined);
  };
  killChildrenOnExit(async () => {
    await cleanUp();
    await rm(settings.logDir, { recursive: true, force: true });
  });

  const failures: string[] = [];
  const warnings: string[] = [];
  const attempt = async <T>(phase: string, seconds: number, work: () => Promise<T>) => {
    progress(`${phase}: about ${seconds} s`);
    const startMs = Date.now();
    try {
      return await work();
    } catch (error) {
      failures.push(`${phase}: ${error instanceof Error ? error.message : String(error)}`);
      progress(`${phase} failed`);
      return undefined;
    } finally {
      const outageMs = watch.outageMs(startMs, Date.now());
      if (outageMs > 0) {
        warnings.push(
          `${phase}: RabbitMQ blocked, stalled or rejected publishes for ` +
            `${(outageMs / 1000).toFixed(1)} s of this phase, so its figures are not valid.`,
        );
      }
    }
  };

  const startedAt = new Date();
  const phaseSeconds = WARMUP_SECONDS + settings.durationSeconds;
  const service = await attempt("service", 2 * phaseSeconds + settings.soakSeconds, () =>
    measureService(settings, queues),
  );
  const httpCeiling = await attempt("HTTP ceiling", phaseSeconds, () =>
    measureHttpCeiling(settings),
  );
  const brokerCeilings: BrokerCeilingResult[] = [];
  for (const inFlight of BROKER_IN_FLIGHT) {
    const ceiling = await attempt(`broker ceiling, ${inFlight} in flight`, phaseSeconds, () =>
      measureBrokerCeiling(settings, queues, inFlight),
    );
    if (ceiling !== undefined) brokerCeilings.push(ceiling);
  }
  const straightforward = await attempt("straightforward", phaseSeconds, () =>
    measureStraightforward(settings, queues),
  );
  await cleanUp();

  const results = {
    date: startedAt,
    command: commandLine(),
    machine: describeMachine(),
    versions,
    settings,
    service,
    httpCeiling,
    brokerCeilings,
    straightforward,
    failures,
    warnings,
  };
  const checks = checkTargets(results);
  const report = renderReport(results, checks);
  console.log(report);

  const missed = checks.filter((check) => check.pass === false).map((check) => check.name);
  console.log(missed.length === 0 ? "Every target is met." : `Missed: ${missed.join("; ")}.`);
  if (failures.length > 0) {
    console.error(
      `${failures.length} phase(s) failed, so BENCHMARKS.md was not written. ` +
        `The servers' logs are in ${settings.logDir}.`,
    );
    process.exit(1);
  }
  if (options.write) {
    await writeFile(join(REPO_ROOT, "BENCHMARKS.md"), report);
    progress("wrote BENCHMARKS.md");
  }
  await rm(settings.logDir, { recursive: true, force: true });
  // Missed targets are results, not failures of the benchmark.
  process.exit(0);
}

/** Returns the command as the user typed it, through npm when npm started this process. */
function commandLine(): string {
  const args = process.argv.slice(2).join(" ");
  if (process.env.npm_lifecycle_event === "bench") {
    return args === "" ? "npm run bench" : `npm run bench -- ${args}`;
  }
  return `node --import tsx scripts/bench/run.ts ${args}`.trimEnd();
}

function progress(message: string): void {
  console.error(`[bench] ${message}`);
}
