/** The machine a run measures on, from Linux's /proc file system. */
import { readFileSync } from "node:fs";
import { cpus, totalmem } from "node:os";

export interface Machine {
  readonly cpuModel: string;
  readonly cores: number;
  readonly memoryBytes: number;
}

export function describeMachine(): Machine {
  let cpuModel = "unknown";
  try {
    const match = /^model name\s*:\s*(.+)$/m.exec(readFileSync("/proc/cpuinfo", "utf8"));
    cpuModel = match?.[1]?.trim() ?? cpuModel;
  } catch {
    // Not Linux, or /proc is not mounted.
  }
  return { cpuModel, cores: cpus().length, memoryBytes: totalmem() };
}
