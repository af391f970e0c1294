/** HTTP load from this process through autocannon's programmatic API. */
import autocannon from "autocannon";

export interface LoadTarget {
  readonly url: string;
  /** JSON request bodies, which each connection sends in turn. Each request is built once. */
  readonly bodies: readonly string[];
  readonly connections: number;
  /** Events carried by one request: 1, or the size of a batch. */
  readonly eventsPerRequest: number;
}

export interface LoadResult {
  /** Measured wall time in seconds. */
  readonly seconds: number;
  /** 2xx responses per second times the events per request. */
  readonly eventsPerSecond: number;
  readonly p50Ms: number;
  readonly p99Ms: number;
  readonly responses2xx: number;
  readonly non2xx: number;
  /** Socket errors and timeouts, which got no response at all. */
  readonly errors: number;
  /** Count of each non-2xx status code, such as { "404": 12 }. */
  readonly non2xxByStatus: Readonly<Record<string, number>>;
}

/** Sends POST requests to `target` for `seconds` and summarizes the responses. */
export async function runLoad(target: LoadTarget, seconds: number): Promise<LoadResult> {
  const result = await autocannon({
    url: target.url,
    method: "POST",
    connections: target.connections,
    duration: seconds,
    headers: { "content-type": "application/json" },
    requests: target.bodies.map((body) => ({ body })),
  });

  const non2xxByStatus: Record<string, number> = {};
  for (const [status, stats] of Object.entries(result.statusCodeStats ?? {})) {
    if (!status.startsWith("2") && stats.count) non2xxByStatus[status] = stats.count;
  }
  return {
    seconds: result.duration,
    eventsPerSecond: (result["2xx"] / result.duration) * target.eventsPerRequest,
    p50Ms: result.latency.p50,
    p99Ms: result.latency.p99,
    responses2xx: result["2xx"],
    non2xx: result.non2xx,
    errors: result.errors,
    non2xxByStatus,
  };
}
