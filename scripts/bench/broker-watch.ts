/**
 * Watches whether RabbitMQ accepts publishes during the run. Other work on a shared machine
 * can raise a resource alarm (which blocks every publisher) or stop the broker, and a phase
 * measured meanwhile shows a figure that means nothing, such as a broker ceiling of 150 msg/s.
 */
import { Connection, type Publisher } from "rabbitmq-client";

import { RABBITMQ_URL } from "./backends.js";

/** Interval in ms between probe publishes. RabbitMQ notifies only connections that publish. */
const PROBE_INTERVAL_MS = 250;

/** A probe slower than this, in ms, counts as a stall. */
const PROBE_STALL_MS = 1000;

/** Routing key of the probes. No queue has this name, so the default exchange drops them. */
const PROBE_ROUTING_KEY = "bench-watch-probe-never-routed";

interface Interval {
  readonly startMs: number;
  endMs: number;
}

export class BrokerWatch {
  private readonly connection: Connection;
  private readonly publisher: Publisher;
  private readonly timer: NodeJS.Timeout;
  /** Periods when the broker blocked publishing, or a probe stalled or failed. */
  private readonly outages: Interval[] = [];
  private blocked: Interval | undefined;
  private probing = false;

  constructor() {
    this.connection = new Connection({
      url: RABBITMQ_URL,
      connectionName: "event-gateway-bench-watch",
      acquireTimeout: PROBE_STALL_MS,
      retryHigh: 1000,
    });
    this.connection.on("error", () => undefined);
    this.connection.on("connection.blocked", () => {
      this.blocked = { startMs: Date.now(), endMs: Number.POSITIVE_INFINITY };
      this.outages.push(this.blocked);
    });
    this.connection.on("connection.unblocked", () => this.endBlock());
    this.connection.on("connection", () => this.endBlock());
    this.publisher = this.connection.createPublisher({ confirm: true, maxAttempts: 1 });
    this.timer = setInterval(() => void this.probe(), PROBE_INTERVAL_MS);
  }

  /**
   * Returns how long publishing was blocked, stalled or failing from `startMs` to `endMs`
   * in ms, or 0 when the broker accepted every probe in time.
   */
  outageMs(startMs: number, endMs: number): number {
    // A blocked period and the probes it stalled overlap, so they are merged, not added.
    const clipped = this.outages
      .map((interval) => ({
        startMs: Math.max(startMs, interval.startMs),
        endMs: Math.min(endMs, interval.endMs),
      }))
      .filter((interval) => interval.endMs > interval.startMs)
      .sort((a, b) => a.startMs - b.startMs);
    let total = 0;
    let coveredUntil = startMs;
    for (const interval of clipped) {
      const from = Math.max(interval.startMs, coveredUntil);
      if (interval.endMs > from) total += interval.endMs - from;
      coveredUntil = Math.max(coveredUntil, interval.endMs);
    }
    return total;
  }

  async close(): Promise<void> {
    clearInterval(this.timer);
    await this.publisher.close().catch(() => undefined);
    await this.connection.close().catch(() => undefined);
  }

  private endBlock(): void {
    if (this.blocked !== undefined) this.blocked.endMs = Date.now();
    this.blocked = undefined;
  }

  /** Publishes one probe, unless the previous one is still waiting for its confirm. */
  private async probe(): Promise<void> {
    if (this.probing) return;
    this.probing = true;
    const startMs = Date.now();
    let failed = false;
    try {
      await this.publisher.send({ exchange: "", routingKey: PROBE_ROUTING_KEY }, "probe");
    } catch {
      failed = true;
    }
    const endMs = Date.now();
    this.probing = false;
    if (failed || endMs - startMs > PROBE_STALL_MS) this.outages.push({ startMs, endMs });
  }
}
