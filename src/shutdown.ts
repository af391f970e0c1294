import { setTimeout as sleep } from "node:timers/promises";

/** Milliseconds left until `deadline`, never below zero. */
export function remainingMs(deadline: number): number {
  return Math.max(0, deadline - Date.now());
}

/**
 * Waits for `work` to settle, but at most `timeoutMs`. Returns whether it settled in time;
 * its outcome is ignored either way, because a shutdown goes on regardless.
 */
export async function settlesWithin(work: Promise<unknown>, timeoutMs: number): Promise<boolean> {
  const settled = work.then(
    () => true,
    () => true,
  );
  return Promise.race([settled, sleep(timeoutMs, false, { ref: false })]);
}
