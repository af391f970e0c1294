/** The command line of `npm run bench`. */
import { parseArgs } from "node:util";

import { WARMUP_SECONDS } from "./phases.js";

export const USAGE = `Usage: npm run bench -- [options]

Measures the service against three references on this machine, one phase at a time, and
prints the figures and the ratios to their targets. The service uses the database
events_bench on 127.0.0.1, and the bench queues, named bench-..., are deleted at the end.

Options:
  --duration S      seconds of each measured phase, after a ${WARMUP_SECONDS} s warm-up (default 10)
  --soak S          seconds of the memory soak of the service; 0 skips it (default 60)
  --connections N   HTTP connections of the load generator (default 32)
  --no-write        print the results without writing BENCHMARKS.md
  -h, --help        show this help`;

/** Exit code for a command-line usage error, the convention of shells and getopt-based tools. */
const EXIT_USAGE = 2;

export interface BenchOptions {
  readonly durationSeconds: number;
  readonly soakSeconds: number;
  readonly connections: number;
  readonly write: boolean;
}

/** Parses the command line. Returns undefined after printing --help, and exits on a usage error. */
export function parseOptions(argv: string[]): BenchOptions | undefined {
  let values: ReturnType<typeof parseCommandLine>["values"];
  try {
    values = parseCommandLine(argv).values;
  } catch (error) {
    failUsage(error instanceof Error ? error.message : String(error));
  }
  if (values.help) {
    console.log(USAGE);
    return undefined;
  }
  return {
    durationSeconds: parseInteger("--duration", values.duration, 1),
    soakSeconds: parseInteger("--soak", values.soak, 0),
    connections: parseInteger("--connections", values.connections, 1),
    write: !values["no-write"],
  };
}

function parseCommandLine(argv: string[]) {
  return parseArgs({
    args: argv,
    options: {
      duration: { type: "string", default: "10" },
      soak: { type: "string", default: "60" },
      connections: { type: "string", default: "32" },
      "no-write": { type: "boolean", default: false },
      help: { type: "boolean", short: "h", default: false },
    },
  });
}

function parseInteger(option: string, text: string, min: number): number {
  const value = Number(text);
  if (!/^\d+$/.test(text) || !Number.isSafeInteger(value) || value < min) {
    failUsage(`Invalid ${option} ${JSON.stringify(text)}: expected an integer of at least ${min}.`);
  }
  return value;
}

function failUsage(problem: string): never {
  console.error(`${problem}\n\n${USAGE}`);
  process.exit(EXIT_USAGE);
}
