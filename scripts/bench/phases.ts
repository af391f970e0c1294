/**
 * The phases of one benchmark run. Each starts its server, loads it after a warm-up, and
 * stops it before the next phase starts, so that no two servers are ever under load at once.
 */
import { cpus } from "node:os";

import { SETTINGS } from "../../src/config.js";
import { queueName } from "../../src/events/event.js";
import { BENCH_DATABASE_URL, emptyBenchTables, type QueueAdmin } from "./backends.js";
import { answersOk, ChildServer, findFreePort, isListening } from "./children.js";
import { type LoadResult, type LoadTarget, runLoad } from "./load.js";
import {
  type CpuShare,
  cpuShares,
  type ProcessGroup,
  RssSampler,
  takeCpuSnapshot,
} from "./proc-stats.js";
import { BATCH_SIZE, batchBodies, benchRoute, routePath, singleEventBodies } from "./workload.js";

/**
 * Seconds of load before each measured phase. The service's throughput was seen to climb
 * for its first 5 to 6 s of load (JIT compilation, pools), so a shorter warm-up skews it.
 */
export const WARMUP_SECONDS = 5;

/** Interval in ms between RSS readings of the service. */
const RSS_INTERVAL_MS = 250;

/** Maximum change of the service's RSS during the soak, relative to its start. */
export const SOAK_RSS_TOLERANCE = 0.2;

/** Maximum wait in ms for a server to accept requests. The service applies migrations first. */
const SERVICE_READY_TIMEOUT_MS = 60_000;
const REFERENCE_READY_TIMEOUT_MS = 30_000;

export interface RunSettings {
  /** Random hex id of this run, part of every queue name. */
  readonly runId: string;
  readonly durationSeconds: number;
  /** Length of the memory soak in seconds, or 0 to skip it. */
  readonly soakSeconds: number;
  readonly connections: number;
  /** Directory for the servers' log files. */
  readonly logDir: string;
}

/** A phase that could not be measured for a known reason, such as a missing endpoint. */
export interface Unavailable {
  readonly unavailable: string;
}

export interface SoakResult {
  readonly load: LoadResult;
  readonly startRssBytes: number;
  readonly endRssBytes: number;
  readonly minRssBytes: number;
  readonly maxRssBytes: number;
  /** Whether every reading stayed within SOAK_RSS_TOLERANCE of the first. */
  readonly flat: boolean;
}

export interface ServiceResult {
  readonly single: LoadResult;
  readonly singleCpu: readonly CpuShare[];
  readonly soak: SoakResult | undefined;
  readonly batch: LoadResult | Unavailable;
  readonly peakRssBytes: number | undefined;
}

export interface ServerResult {
  readonly load: LoadResult;
  readonly cpu: readonly CpuShare[];
}

export interface BrokerCeilingResult {
  readonly inFlight: number;
  readonly messagesPerSecond: number;
  readonly failed: number;
}

/** Measures the service as `npm start` runs it: single events, the soak, then batches. */
export async function measureService(
  settings: RunSettings,
  queues: QueueAdmin,
): Promise<ServiceResult> {
  const route = benchRoute(settings.runId, "service");
  const queue = queues.track(queueName(route));
  const port = await findFreePort();
  const baseUrl = `http://127.0.0.1:${port}`;
  const server = new ChildServer({
    name: "service",
    args: ["src/main.ts"],
    env: serviceEnvironment(port),
    logDir: settings.logDir,
  });
  let sampler: RssSampler | undefined;
  try {
    await server.waitUntil(() => answersOk(`${baseUrl}/readyz`), SERVICE_READY_TIMEOUT_MS);
    await emptyBenchTables();
    sampler = new RssSampler(server.pid, RSS_INTERVAL_MS);

    const single = singleEventTarget(`${baseUrl}${routePath(route)}`, settings);
    const { load, cpu } = await measureWithCpu(single, settings, server.pid);
    const soak =
      settings.soakSeconds > 0 ? await soakService(single, settings, sampler) : undefined;
    await queues.purge(queue);

    const batch = await measureBatch(`${baseUrl}${routePath(route)}/batch`, settings);
    return { single: load, singleCpu: cpu, soak, batch, peakRssBytes: sampler.peakBytes() };
  } finally {
    sampler?.stop();
    await server.stop();
    await purgeQuietly(queues, queue);
  }
}

/** Builds the environment of `npm start`, with every setting of the service at its default. */
function serviceEnvironment(port: number): NodeJS.ProcessEnv {
  const env = { ...process.env };
  for (const setting of SETTINGS) delete env[setting.variable];
  return { ...env, PORT: String(port), DATABASE_URL: BENCH_DATABASE_URL };
}

function singleEventTarget(url: string, settings: RunSettings): LoadTarget {
  return {
    url,
    bodies: singleEventBodies(),
    connections: settings.connections,
    eventsPerRequest: 1,
  };
}

/** Warms up, then measures `target` and the CPU time of the server and the backends. */
async function measureWithCpu(
  target: LoadTarget,
  settings: RunSettings,
  serverPid: number,
): Promise<ServerResult> {
  await runLoad(target, WARMUP_SECONDS);
  const groups: ProcessGroup[] = [
    { label: "server under load", includes: (pid) => pid === serverPid },
    { label: "postgres (all processes)", includes: (_, command) => command === "postgres" },
    { label: "RabbitMQ (beam.smp)", includes: (_, command) => command === "beam.smp" },
    { label: "bench (load generator)", includes: (pid) => pid === process.pid },
  ];
  const before = takeCpuSnapshot();
  const load = await runLoad(target, settings.durationSeconds);
  const after = takeCpuSnapshot();
  return { load, cpu: cpuShares(before, after, groups, cpus().length) };
}

/** Loads the already warm service for the soak and compares its RSS over that time. */
async function soakService(
  target: LoadTarget,
  settings: RunSettings,
  sampler: RssSampler,
): Promise<SoakResult> {
  const start = sampler.sample();
  const load = await runLoad(target, settings.soakSeconds);
  const end = sampler.sample();
  if (start === undefined || end === undefined) throw new Error("the service exited in the soak");

  const readings = sampler.between(start.atMs, end.atMs).map((sample) => sample.bytes);
  const limit = start.bytes * SOAK_RSS_TOLERANCE;
  return {
    load,
    startRssBytes: start.bytes,
    endRssBytes: end.bytes,
    minRssBytes: Math.min(...readings),
    maxRssBytes: Math.max(...readings),
    flat: readings.every((bytes) => Math.abs(bytes - start.bytes) <= limit),
  };
}

/**
 * Measures the batch endpoint, or reports it unavailable when one probe request, or every
 * request of the measurement, gets no 2xx response.
 */
async function measureBatch(url: string, settings: RunSettings): Promise<LoadResult | Unavailable> {
  const bodies = batchBodies();
  const problem = await probeBatch(url, bodies[0] ?? "[]");
  if (problem !== undefined) return { unavailable: problem };

  const target = { url, bodies, connections: settings.connections, eventsPerRequest: BATCH_SIZE };
  await runLoad(target, WARMUP_SECONDS);
  const load = await runLoad(target, settings.durationSeconds);
  if (load.responses2xx === 0) {
    return { unavailable: `no 2xx response; status codes ${JSON.stringify(load.non2xxByStatus)}` };
  }
  return load;
}

/** Returns why one batch request failed, or undefined when it stored every event. */
async function probeBatch(url: string, body: string): Promise<string | undefined> {
  let response: Response;
  try {
    response = await fetch(url, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body,
      signal: AbortSignal.timeout(10_000),
    });
  } catch (error) {
    return `the probe request failed: ${String(error)}`;
  }
  const text = await response.text();
  if (response.status !== 200) return `POST ${new URL(url).pathname} returned ${response.status}`;
  try {
    const events = (JSON.parse(text) as { events?: unknown }).events;
    if (Array.isArray(events) && events.length === BATCH_SIZE) return undefined;
  } catch {
    // Reported below with the others.
  }
  return `the response to POST ${new URL(url).pathname} did not list ${BATCH_SIZE} events`;
}

/** Measures Express parsing the JSON body and sending a constant 200 response, with no I/O. */
export async function measureHttpCeiling(settings: RunSettings): Promise<ServerResult> {
  const route = benchRoute(settings.runId, "http");
  return measureReference("http-ceiling", "scripts/bench/http-ceiling.ts", route, settings, {});
}

/** Measures the straightforward implementation against the bench database and broker. */
export async function measureStraightforward(
  settings: RunSettings,
  queues: QueueAdmin,
): Promise<ServerResult> {
  const route = benchRoute(settings.runId, "straightforward");
  const queue = queues.track(queueName(route));
  await emptyBenchTables();
  try {
    return await measureReference(
      "straightforward",
      "scripts/bench/straightforward-server.ts",
      route,
      settings,
      { DATABASE_URL: BENCH_DATABASE_URL },
    );
  } finally {
    await purgeQuietly(queues, queue);
  }
}

async function measureReference(
  name: string,
  script: string,
  route: ReturnType<typeof benchRoute>,
  settings: RunSettings,
  env: NodeJS.ProcessEnv,
): Promise<ServerResult> {
  const port = await findFreePort();
  const server = new ChildServer({
    name,
    args: [script],
    env: { ...process.env, ...env, PORT: String(port) },
    logDir: settings.logDir,
  });
  try {
    await server.waitUntil(() => isListening(port), REFERENCE_READY_TIMEOUT_MS);
    const target = singleEventTarget(`http://127.0.0.1:${port}${routePath(route)}`, settings);
    return await measureWithCpu(target, settings, server.pid);
  } finally {
    await server.stop();
  }
}

/** Measures confirmed persistent publishes from one process with `inFlight` outstanding. */
export async function measureBrokerCeiling(
  settings: RunSettings,
  queues: QueueAdmin,
  inFlight: number,
): Promise<BrokerCeilingResult> {
  const queue = queues.track(queueName(benchRoute(settings.runId, "broker")));
  const publisher = new ChildServer({
    name: `broker-ceiling-${inFlight}`,
    args: [
      "scripts/bench/broker-ceiling.ts",
      ...["--queue", queue, "--in-flight", String(inFlight)],
      ...["--seconds", String(settings.durationSeconds)],
      ...["--warmup-seconds", String(WARMUP_SECONDS)],
    ],
    env: process.env,
    logDir: settings.logDir,
    captureStdout: true,
  });
  try {
    const timeoutMs = (WARMUP_SECONDS + settings.durationSeconds + 30) * 1000;
    const code = await publisher.waitForExit(timeoutMs);
    if (code !== 0) throw publisher.failure(`exited with ${code}`);
    const line = publisher.output.trim().split("\n").at(-1) ?? "";
    const result = JSON.parse(line) as BrokerCeilingResult;
    return { inFlight, messagesPerSecond: result.messagesPerSecond, failed: result.failed };
  } finally {
    await publisher.stop();
    await purgeQuietly(queues, queue);
  }
}

/** Purges `queue` without hiding the error of a failed phase; the run deletes it at the end. */
async function purgeQuietly(queues: QueueAdmin, queue: string): Promise<void> {
  await queues.purge(queue).catch(() => undefined);
}
