/** The results of one run as Markdown, with each target checked. */
import type { LoadResult } from "./load.js";
import type { Machine } from "./machine.js";
import {
  type BrokerCeilingResult,
  type RunSettings,
  type ServerResult,
  type ServiceResult,
  SOAK_RSS_TOLERANCE,
  type Unavailable,
  WARMUP_SECONDS,
} from "./phases.js";
import { type CpuShare, UNACCOUNTED_LABEL } from "./proc-stats.js";

export interface RunResults {
  readonly date: Date;
  /** The command line that produced the run. */
  readonly command: string;
  readonly machine: Machine;
  readonly versions: {
    readonly node: string;
    readonly postgres: string;
    readonly rabbitmq: string;
  };
  readonly settings: RunSettings;
  /** Each phase is undefined when it failed, and `failures` gives the reason. */
  readonly service: ServiceResult | undefined;
  readonly httpCeiling: ServerResult | undefined;
  readonly brokerCeilings: readonly BrokerCeilingResult[];
  readonly straightforward: ServerResult | undefined;
  readonly failures: readonly string[];
  /** Phases whose figures are not valid, such as one measured while RabbitMQ blocked publishing. */
  readonly warnings: readonly string[];
}

export interface TargetCheck {
  readonly name: string;
  readonly value: string;
  readonly goal: string;
  /** Undefined when the target does not apply to this run, such as a skipped soak. */
  readonly pass: boolean | undefined;
}

/** Minimum ratios and maximum latency that the service is held to. */
const TARGETS = {
  overStraightforward: 1.3,
  overHttpCeiling: 0.4,
  maxP99Ms: 50,
  batchOverBrokerCeiling: 0.7,
};

/** Returns the faster of the broker ceilings, which the batch endpoint is compared with. */
export function brokerCeiling(results: RunResults): number | undefined {
  const rates = results.brokerCeilings.map((result) => result.messagesPerSecond);
  return rates.length === 0 ? undefined : Math.max(...rates);
}

export function checkTargets(results: RunResults): TargetCheck[] {
  const single = results.service?.single;
  const batch = results.service?.batch;
  const batchLoad = batch === undefined || isUnavailable(batch) ? undefined : batch;
  const soak = results.service?.soak;
  return [
    ratioCheck(
      "single-event events/s ÷ straightforward",
      single?.eventsPerSecond,
      results.straightforward?.load.eventsPerSecond,
      TARGETS.overStraightforward,
    ),
    ratioCheck(
      "single-event events/s ÷ HTTP ceiling",
      single?.eventsPerSecond,
      results.httpCeiling?.load.eventsPerSecond,
      TARGETS.overHttpCeiling,
    ),
    {
      name: "single-event p99",
      value: single === undefined ? "n/a" : `${formatMs(single.p99Ms)} ms`,
      goal: `≤ ${TARGETS.maxP99Ms} ms`,
      pass: single !== undefined && single.p99Ms <= TARGETS.maxP99Ms,
    },
    {
      name: "single-event non-2xx + errors",
      value: single === undefined ? "n/a" : String(single.non2xx + single.errors),
      goal: "0",
      pass: single !== undefined && single.non2xx + single.errors === 0,
    },
    ratioCheck(
      "batch events/s ÷ broker ceiling",
      batchLoad?.eventsPerSecond,
      brokerCeiling(results),
      TARGETS.batchOverBrokerCeiling,
    ),
    {
      name: "RSS over the soak",
      value:
        soak === undefined
          ? "skipped"
          : `${formatMiB(soak.startRssBytes)} → ${formatMiB(soak.endRssBytes)} MiB`,
      goal: `every reading within ${SOAK_RSS_TOLERANCE * 100}% of the first`,
      pass: soak?.flat,
    },
  ];
}

function ratioCheck(
  name: string,
  numerator: number | undefined,
  denominator: number | undefined,
  minimum: number,
): TargetCheck {
  const ratio =
    numerator === undefined || denominator === undefined || denominator === 0
      ? undefined
      : numerator / denominator;
  return {
    name,
    value: ratio === undefined ? "n/a" : ratio.toFixed(2),
    goal: `≥ ${minimum.toFixed(2)}`,
    pass: ratio !== undefined && ratio >= minimum,
  };
}

/** Renders the whole run as a Markdown page. */
export function renderReport(results: RunResults, checks: readonly TargetCheck[]): string {
  const { machine, versions, settings } = results;
  const sections = [
    "# Benchmarks",
    [
      `Run on ${results.date.toISOString().replace(/\.\d+Z$/, "Z")} with \`${results.command}\`.`,
      `Machine: ${machine.cpuModel}, ${machine.cores} cores, ` +
        `${(machine.memoryBytes / 2 ** 30).toFixed(1)} GiB of memory. ` +
        `Node ${versions.node}, PostgreSQL ${versions.postgres}, RabbitMQ ${versions.rabbitmq}.`,
      "These figures are from one run, with the phases side by side, on one machine shared by " +
        "the load generator, the servers, PostgreSQL and RabbitMQ.",
    ].join("\n"),
    `## Throughput and latency\n\nEach phase runs ${WARMUP_SECONDS} s of warm-up, then ` +
      `${settings.durationSeconds} s measured, with ${settings.connections} HTTP connections ` +
      `from autocannon. Latency is per request.\n\n${renderPhases(results)}`,
    `## Targets\n\n${renderTargets(checks)}`,
    ...renderWarnings(results),
    `## Memory of the service\n\n${renderMemory(results.service)}`,
    "## CPU time during the single-event phases\n\n" +
      "Each process's user and system time over the measured seconds, as a share of all " +
      `cores (${machine.cores} cores = 100%).\n\n${renderCpu(results)}`,
  ];
  if (results.failures.length > 0) {
    sections.push(`## Failed phases\n\n${results.failures.map((line) => `- ${line}`).join("\n")}`);
  }
  return `${sections.join("\n\n")}\n`;
}

function renderPhases(results: RunResults): string {
  const rows: string[][] = [];
  const service = results.service;
  if (service !== undefined) {
    rows.push(loadRow("service, single events", service.single));
    if (service.soak !== undefined) {
      rows.push(
        loadRow(`service, memory soak (${results.settings.soakSeconds} s)`, service.soak.load),
      );
    }
    rows.push(
      isUnavailable(service.batch)
        ? ["service, batches of 100", `unavailable: ${service.batch.unavailable}`, "", "", "", ""]
        : loadRow("service, batches of 100", service.batch),
    );
  } else {
    rows.push(["service", "failed", "", "", "", ""]);
  }
  rows.push(optionalLoadRow("HTTP ceiling: Express, no I/O", results.httpCeiling));
  for (const ceiling of results.brokerCeilings) {
    rows.push([
      `broker ceiling, ${ceiling.inFlight} publishes in flight`,
      `${formatRate(ceiling.messagesPerSecond)} msg/s`,
      "",
      "",
      "",
      String(ceiling.failed),
    ]);
  }
  rows.push(optionalLoadRow("straightforward: pg, rabbitmq-client", results.straightforward));
  return markdownTable(["phase", "events/s", "p50 ms", "p99 ms", "non-2xx", "errors"], rows);
}

function optionalLoadRow(label: string, result: ServerResult | undefined): string[] {
  return result === undefined ? [label, "failed", "", "", "", ""] : loadRow(label, result.load);
}

function loadRow(label: string, load: LoadResult): string[] {
  const statuses = Object.entries(load.non2xxByStatus)
    .map(([status, count]) => `${count}× ${status}`)
    .join(", ");
  return [
    label,
    formatRate(load.eventsPerSecond),
    formatMs(load.p50Ms),
    formatMs(load.p99Ms),
    statuses === "" ? String(load.non2xx) : `${load.non2xx} (${statuses})`,
    String(load.errors),
  ];
}

/**
 * Share of all cores above which other processes and the kernel count as competing with a
 * phase. The kernel's own part, mostly loopback networking, measured 4 to 5% in phases with
 * no other work on a 2-core machine.
 */
const OTHER_CPU_WARNING_SHARE = 0.2;

/** Lists the run's warnings and the phases that other processes competed with for CPU. */
function renderWarnings(results: RunResults): string[] {
  const warnings = [...results.warnings];
  const phases: [string, readonly CpuShare[] | undefined][] = [
    ["service, single events", results.service?.singleCpu],
    ["straightforward", results.straightforward?.cpu],
    ["HTTP ceiling", results.httpCeiling?.cpu],
  ];
  for (const [phase, shares] of phases) {
    const other = shares?.find((share) => share.label === UNACCOUNTED_LABEL);
    if (other !== undefined && other.share > OTHER_CPU_WARNING_SHARE) {
      warnings.push(
        `${phase}: other processes and the kernel used ${(other.share * 100).toFixed(0)}% of ` +
          "all cores, so its figures are likely low.",
      );
    }
  }
  if (warnings.length === 0) return [];
  return [`## Warnings\n\n${warnings.map((line) => `- ${line}`).join("\n")}`];
}

function renderTargets(checks: readonly TargetCheck[]): string {
  const rows = checks.map((check) => [check.name, check.value, check.goal, verdict(check.pass)]);
  return markdownTable(["target", "value", "goal", "result"], rows);
}

function verdict(pass: boolean | undefined): string {
  if (pass === undefined) return "skipped";
  return pass ? "PASS" : "FAIL";
}

function renderMemory(service: ServiceResult | undefined): string {
  if (service === undefined) return "Not measured: the service phase failed.";
  const peak = service.peakRssBytes === undefined ? "n/a" : formatMiB(service.peakRssBytes);
  const lines = [`Peak RSS over all service phases, read every 250 ms: ${peak} MiB.`];
  const soak = service.soak;
  if (soak === undefined) {
    lines.push("The soak was skipped.");
  } else {
    lines.push(
      `Over the soak: ${formatMiB(soak.startRssBytes)} MiB at the start, ` +
        `${formatMiB(soak.endRssBytes)} MiB at the end, from ${formatMiB(soak.minRssBytes)} ` +
        `to ${formatMiB(soak.maxRssBytes)} MiB in between.`,
    );
  }
  return lines.join("\n");
}

function renderCpu(results: RunResults): string {
  const columns: [string, readonly CpuShare[] | undefined][] = [
    ["service", results.service?.singleCpu],
    ["straightforward", results.straightforward?.cpu],
    ["HTTP ceiling", results.httpCeiling?.cpu],
  ];
  const labels = columns.find(([, shares]) => shares !== undefined)?.[1]?.map((s) => s.label);
  if (labels === undefined) return "Not measured: every HTTP phase failed.";
  const rows = labels.map((label, index) => [
    label,
    ...columns.map(([, shares]) => formatShare(shares?.[index])),
  ]);
  return markdownTable(["process", ...columns.map(([name]) => name)], rows);
}

function formatShare(share: CpuShare | undefined): string {
  if (share === undefined) return "n/a";
  return `${(share.share * 100).toFixed(0)}% (${share.seconds.toFixed(1)} s)`;
}

export function isUnavailable(result: LoadResult | Unavailable): result is Unavailable {
  return "unavailable" in result;
}

function formatRate(perSecond: number): string {
  return Math.round(perSecond).toLocaleString("en-US");
}

function formatMs(ms: number): string {
  return String(Math.round(ms * 10) / 10);
}

function formatMiB(bytes: number): string {
  return (bytes / 2 ** 20).toFixed(1);
}

/** Renders a Markdown table with padded columns, so that it also reads well as plain text. */
function markdownTable(headers: readonly string[], rows: readonly (readonly string[])[]): string {
  const widths = headers.map((header, column) =>
    Math.max(header.length, ...rows.map((row) => (row[column] ?? "").length)),
  );
  const line = (cells: readonly string[]) =>
    `| ${widths.map((width, column) => (cells[column] ?? "").padEnd(width)).join(" | ")} |`;
  const rule = `|${widths.map((width) => "-".repeat(width + 2)).join("|")}|`;
  return [line(headers), rule, ...rows.map(line)].join("\n");
}
