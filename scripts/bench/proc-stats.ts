/** Memory and CPU time of processes, read from Linux's /proc file system. */
import { execFileSync } from "node:child_process";
import { readdirSync, readFileSync } from "node:fs";

/** Clock ticks per second of utime and stime in /proc/<pid>/stat. */
const CLOCK_TICKS_PER_SECOND = readClockTicks();

function readClockTicks(): number {
  try {
    const ticks = Number(execFileSync("getconf", ["CLK_TCK"], { encoding: "utf8" }).trim());
    return ticks > 0 ? ticks : 100;
  } catch {
    // 100 is the value of USER_HZ on every mainstream Linux architecture.
    return 100;
  }
}

/** Returns the resident set size of `pid` in bytes, or undefined when the process is gone. */
export function readRssBytes(pid: number): number | undefined {
  let status: string;
  try {
    status = readFileSync(`/proc/${pid}/status`, "utf8");
  } catch {
    return undefined;
  }
  const match = /^VmRSS:\s+(\d+) kB$/m.exec(status);
  return match?.[1] === undefined ? undefined : Number(match[1]) * 1024;
}

export interface RssSample {
  /** Milliseconds since the epoch. */
  readonly atMs: number;
  readonly bytes: number;
}

/** Reads the RSS of one process at a fixed interval until stopped. */
export class RssSampler {
  readonly samples: RssSample[] = [];
  private readonly timer: NodeJS.Timeout;

  constructor(
    private readonly pid: number,
    intervalMs: number,
  ) {
    this.sample();
    this.timer = setInterval(() => this.sample(), intervalMs);
  }

  /** Reads the RSS now and records it. Returns undefined once the process is gone. */
  sample(): RssSample | undefined {
    const bytes = readRssBytes(this.pid);
    if (bytes === undefined) return undefined;
    const reading = { atMs: Date.now(), bytes };
    this.samples.push(reading);
    return reading;
  }

  stop(): void {
    clearInterval(this.timer);
  }

  peakBytes(): number | undefined {
    if (this.samples.length === 0) return undefined;
    return Math.max(...this.samples.map((sample) => sample.bytes));
  }

  /** Returns the samples taken from `startMs` to `endMs`, both included. */
  between(startMs: number, endMs: number): RssSample[] {
    return this.samples.filter((sample) => sample.atMs >= startMs && sample.atMs <= endMs);
  }
}

/** CPU time of every process, and of the whole machine, at one moment. */
export interface CpuSnapshot {
  readonly atMs: number;
  /** Process id to its command name and utime + stime in clock ticks. */
  readonly processes: ReadonlyMap<number, { readonly command: string; readonly ticks: number }>;
  /** Busy and total clock ticks of all cores, from the `cpu` line of /proc/stat. */
  readonly machine: { readonly busyTicks: number; readonly totalTicks: number };
}

export function takeCpuSnapshot(): CpuSnapshot {
  const processes = new Map<number, { command: string; ticks: number }>();
  for (const entry of readdirSync("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    const stat = readProcessStat(Number(entry));
    if (stat !== undefined) processes.set(Number(entry), stat);
  }
  return { atMs: Date.now(), processes, machine: readMachineTicks() };
}

/**
 * Reads the command name and utime + stime of `pid`. The command name is in parentheses
 * and may contain spaces, so the numeric fields are counted from the last `)`.
 */
function readProcessStat(pid: number): { command: string; ticks: number } | undefined {
  let stat: string;
  try {
    stat = readFileSync(`/proc/${pid}/stat`, "utf8");
  } catch {
    return undefined;
  }
  const open = stat.indexOf("(");
  const close = stat.lastIndexOf(")");
  const fields = stat.slice(close + 2).split(" ");
  // Fields 14 (utime) and 15 (stime) of proc(5); `fields` starts at field 3 (state).
  const ticks = Number(fields[11]) + Number(fields[12]);
  return { command: stat.slice(open + 1, close), ticks };
}

function readMachineTicks(): { busyTicks: number; totalTicks: number } {
  const line = readFileSync("/proc/stat", "utf8").split("\n")[0] ?? "";
  // The fields are user, nice, system, idle, iowait, irq, softirq and steal. Guest time is
  // already counted in user.
  const [user, nice, system, idle, iowait, irq, softirq, steal] = line
    .trim()
    .split(/\s+/)
    .slice(1, 9)
    .map(Number) as number[];
  const values = [user, nice, system, idle, iowait, irq, softirq, steal].map((value) => value ?? 0);
  const totalTicks = values.reduce((sum, value) => sum + value, 0);
  return { busyTicks: totalTicks - (idle ?? 0) - (iowait ?? 0), totalTicks };
}

/** Label of the share of the machine's busy time that no process group accounts for. */
export const UNACCOUNTED_LABEL = "everything else (other processes, kernel)";

/** A set of processes whose CPU time is added up, such as every `postgres` process. */
export interface ProcessGroup {
  readonly label: string;
  readonly includes: (pid: number, command: string) => boolean;
}

export interface CpuShare {
  readonly label: string;
  /** CPU time in seconds, user and system. */
  readonly seconds: number;
  /** CPU time divided by the wall time times the number of cores. */
  readonly share: number;
}

/**
 * Returns each group's CPU time between two snapshots and its share of all cores, then the
 * busy time of the rest of the machine and of the whole machine. A process that started in
 * between counts from zero, and one that exited in between is missing.
 */
export function cpuShares(
  before: CpuSnapshot,
  after: CpuSnapshot,
  groups: readonly ProcessGroup[],
  cores: number,
): CpuShare[] {
  const capacitySeconds = ((after.atMs - before.atMs) / 1000) * cores;
  const shares = groups.map((group) => {
    let ticks = 0;
    for (const [pid, now] of after.processes) {
      if (!group.includes(pid, now.command)) continue;
      ticks += now.ticks - (before.processes.get(pid)?.ticks ?? 0);
    }
    const seconds = ticks / CLOCK_TICKS_PER_SECOND;
    return { label: group.label, seconds, share: seconds / capacitySeconds };
  });

  const busy = after.machine.busyTicks - before.machine.busyTicks;
  const total = after.machine.totalTicks - before.machine.totalTicks;
  const machineShare = total > 0 ? busy / total : 0;
  const groupsShare = shares.reduce((sum, share) => sum + share.share, 0);
  const restShare = Math.max(0, machineShare - groupsShare);
  shares.push(
    {
      label: UNACCOUNTED_LABEL,
      seconds: restShare * capacitySeconds,
      share: restShare,
    },
    {
      label: "whole machine (busy)",
      seconds: machineShare * capacitySeconds,
      share: machineShare,
    },
  );
  return shares;
}
