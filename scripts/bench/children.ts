/**
 * Child processes of the benchmark: each server runs in its own process group, and every
 * group still running is killed when the benchmark exits, fails or is interrupted.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { once } from "node:events";
import { closeSync, openSync, readFileSync } from "node:fs";
import { connect, createServer } from "node:net";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { fileURLToPath } from "node:url";

export const REPO_ROOT = fileURLToPath(new URL("../../", import.meta.url));

/** Interval in ms between readiness checks of a starting server. */
const READY_POLL_INTERVAL_MS = 100;

/** Maximum wait in ms for a child to exit after SIGTERM before it is killed. */
const STOP_TIMEOUT_MS = 10_000;

/** Number of log lines quoted when a child fails. */
const LOG_TAIL_LINES = 20;

const running = new Set<ChildProcess>();

export interface ChildOptions {
  /** Short name, used for the log file and in error messages. */
  readonly name: string;
  /** Arguments after `node --import tsx`: the script and its own arguments. */
  readonly args: readonly string[];
  readonly env: NodeJS.ProcessEnv;
  /** Directory of the log file that receives the child's stderr, and stdout unless captured. */
  readonly logDir: string;
  /** Whether stdout is kept in memory, for a child that prints its result, instead of logged. */
  readonly captureStdout?: boolean;
}

/** A TypeScript script running under `node --import tsx` in its own process group. */
export class ChildServer {
  readonly child: ChildProcess;
  readonly pid: number;
  readonly logFile: string;
  /** Resolves with the exit code, or the signal name when a signal ended the child. */
  readonly exited: Promise<number | string>;
  private stdout = "";

  constructor(readonly options: ChildOptions) {
    this.logFile = join(options.logDir, `${options.name}.log`);
    const log = openSync(this.logFile, "a");
    try {
      this.child = spawn(process.execPath, ["--import", "tsx", ...options.args], {
        cwd: REPO_ROOT,
        env: options.env,
        // The open stdin pipe lets the bench's own servers notice that the bench died.
        stdio: ["pipe", options.captureStdout ? "pipe" : log, log],
        detached: true,
      });
    } finally {
      closeSync(log);
    }
    if (this.child.pid === undefined) throw new Error(`could not start ${options.name}`);
    this.pid = this.child.pid;
    running.add(this.child);
    this.child.stdout?.setEncoding("utf8").on("data", (chunk: string) => {
      this.stdout += chunk;
    });
    this.exited = once(this.child, "exit").then(([code, signal]) => {
      running.delete(this.child);
      return (code as number | null) ?? (signal as string);
    });
  }

  /** The captured stdout; empty unless `captureStdout` was set. */
  get output(): string {
    return this.stdout;
  }

  /** Polls `isReady` until it returns true. Rejects if the child exits or `timeoutMs` passes. */
  async waitUntil(isReady: () => Promise<boolean>, timeoutMs: number): Promise<void> {
    let exit: number | string | undefined;
    void this.exited.then((code) => {
      exit = code;
    });
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline) {
      if (exit !== undefined) throw this.failure(`exited with ${exit} before it was ready`);
      if (await isReady()) return;
      await sleep(READY_POLL_INTERVAL_MS);
    }
    throw this.failure(`was not ready within ${timeoutMs} ms`);
  }

  /** Resolves with the exit code. Kills the child and rejects after `timeoutMs`. */
  async waitForExit(timeoutMs: number): Promise<number | string> {
    const timer = sleep(timeoutMs, "timeout" as const, { ref: false });
    const outcome = await Promise.race([this.exited, timer]);
    if (outcome !== "timeout") return outcome;
    this.kill();
    throw this.failure(`did not finish within ${timeoutMs} ms`);
  }

  /** Sends SIGTERM to the group, and SIGKILL if the child has not exited after 10 s. */
  async stop(): Promise<void> {
    if (!running.has(this.child)) return;
    signalGroup(this.pid, "SIGTERM");
    const timer = sleep(STOP_TIMEOUT_MS, "timeout" as const, { ref: false });
    const outcome = await Promise.race([this.exited, timer]);
    if (outcome === "timeout") this.kill();
    await this.exited;
  }

  kill(): void {
    signalGroup(this.pid, "SIGKILL");
  }

  /** Creates an error that names the child and quotes the end of its log. */
  failure(problem: string): Error {
    return new Error(`${this.options.name} ${problem}. Its log ends with:\n${this.logTail()}`);
  }

  private logTail(): string {
    let text: string;
    try {
      text = readFileSync(this.logFile, "utf8");
    } catch {
      return "(no log)";
    }
    const lines = text.trimEnd().split("\n").slice(-LOG_TAIL_LINES);
    return lines.map((line) => `  ${line}`).join("\n");
  }
}

/** Sends `signal` to every process of the group led by `pid`, unless the group is gone. */
function signalGroup(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(-pid, signal);
  } catch {
    // ESRCH: every process of the group has exited.
  }
}

/** Kills every child still running. Synchronous, so that it also works in an `exit` handler. */
export function killAllChildren(): void {
  for (const child of running) {
    if (child.pid !== undefined) signalGroup(child.pid, "SIGKILL");
  }
}

/**
 * Kills the children when this process exits, and on SIGINT, SIGTERM or SIGHUP runs
 * `cleanUp` (limited to 5 s) before it exits with 128 + the signal number.
 * NOTE: a SIGKILL of the bench cannot be caught. The bench's own servers then exit when
 * their stdin closes, but the service keeps running until it is killed by hand.
 */
export function killChildrenOnExit(cleanUp: () => Promise<void>): void {
  process.on("exit", killAllChildren);
  const signals = { SIGINT: 2, SIGTERM: 15, SIGHUP: 1 } as const;
  let stopping = false;
  for (const [signal, number] of Object.entries(signals)) {
    // A listener stays for repeats: npm forwards the terminal's SIGINT to this process,
    // which then gets it twice, and a second one with no listener would end it at once.
    process.on(signal, () => {
      killAllChildren();
      if (stopping) return;
      stopping = true;
      console.error(`\n${signal} received: stopping the servers and deleting the bench queues`);
      const limit = sleep(5000, undefined, { ref: false });
      void Promise.race([cleanUp().catch(() => undefined), limit]).finally(() =>
        process.exit(128 + number),
      );
    });
  }
}

/** Returns a TCP port that is free on 127.0.0.1 at the moment of the call. */
export async function findFreePort(): Promise<number> {
  const server = createServer();
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  const address = server.address();
  server.close();
  if (address === null || typeof address === "string") throw new Error("no TCP port assigned");
  return address.port;
}

/** Returns whether something accepts TCP connections on 127.0.0.1:`port`. */
export function isListening(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ host: "127.0.0.1", port });
    socket.once("connect", () => {
      socket.destroy();
      resolve(true);
    });
    socket.once("error", () => resolve(false));
  });
}

/** Returns whether GET `url` returns status 200. */
export async function answersOk(url: string): Promise<boolean> {
  try {
    const response = await fetch(url, { signal: AbortSignal.timeout(2000) });
    await response.arrayBuffer();
    return response.status === 200;
  } catch {
    return false;
  }
}
