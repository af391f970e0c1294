/**
 * Exits this process when its stdin closes. The benchmark starts its servers with a pipe on
 * stdin, which the kernel closes when the benchmark dies, even by SIGKILL, so no server is
 * left listening.
 */
export function exitWhenStdinCloses(): void {
  process.stdin.on("end", () => process.exit(0));
  process.stdin.on("error", () => process.exit(0));
  process.stdin.resume();
}
