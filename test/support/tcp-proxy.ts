import { connect, createServer, type Server, type Socket } from "node:net";

/** One client connection and its upstream connection. */
interface Link {
  readonly client: Socket;
  readonly upstream: Socket;
}

/**
 * A TCP proxy on 127.0.0.1 that tests put between the service and PostgreSQL or RabbitMQ
 * to cause network faults on demand:
 * - reset() ends every connection with a TCP reset, as a crashed peer or a dropped NAT
 *   entry does; new connections still work.
 * - blackhole() stops all traffic without closing anything, as a network partition does.
 *   New connections are accepted but get no response. restore() delivers the held bytes,
 *   as TCP does once a partition heals.
 * - slow(ms) delays every chunk in both directions.
 * - refuse() resets every connection and every new one at once, as a stopped server's
 *   closed port does.
 */
export class TcpProxy {
  private readonly server: Server;
  private readonly links = new Set<Link>();
  private held = false;
  private refusing = false;
  private delayMs = 0;

  constructor(
    private readonly targetHost: string,
    private readonly targetPort: number,
  ) {
    this.server = createServer((client) => this.accept(client));
  }

  /** Starts listening on a free port of 127.0.0.1 and returns it. */
  async listen(): Promise<number> {
    await new Promise<void>((resolve) => this.server.listen(0, "127.0.0.1", resolve));
    return this.port;
  }

  get port(): number {
    const address = this.server.address();
    if (address === null || typeof address === "string") throw new Error("proxy not listening");
    return address.port;
  }

  /** Number of client connections open now. */
  get connectionCount(): number {
    return this.links.size;
  }

  reset(): void {
    for (const link of this.links) this.destroy(link);
  }

  blackhole(): void {
    this.held = true;
    for (const link of this.links) {
      link.client.pause();
      link.upstream.pause();
    }
  }

  slow(delayMs: number): void {
    this.delayMs = delayMs;
  }

  refuse(): void {
    this.refusing = true;
    this.reset();
  }

  /** Ends a black hole, a slowdown or refusal. */
  restore(): void {
    this.held = false;
    this.refusing = false;
    this.delayMs = 0;
    for (const link of this.links) {
      link.client.resume();
      link.upstream.resume();
    }
  }

  async close(): Promise<void> {
    this.reset();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  private accept(client: Socket): void {
    if (this.refusing) {
      client.resetAndDestroy();
      return;
    }
    const upstream = connect(this.targetPort, this.targetHost);
    const link = { client, upstream };
    this.links.add(link);
    if (this.held) {
      client.pause();
      upstream.pause();
    }
    this.forward(client, upstream);
    this.forward(upstream, client);
    const end = () => this.destroy(link);
    client.on("error", end).on("close", end);
    upstream.on("error", end).on("close", end);
  }

  /** Copies chunks from `source` to `target`, in order, after the current delay. */
  private forward(source: Socket, target: Socket): void {
    let previous = Promise.resolve();
    source.on("data", (chunk) => {
      if (this.delayMs === 0) {
        previous = previous.then(() => write(target, chunk));
        return;
      }
      const delay = this.delayMs;
      previous = previous.then(async () => {
        await new Promise((resolve) => setTimeout(resolve, delay));
        write(target, chunk);
      });
    });
  }

  private destroy(link: Link): void {
    if (!this.links.delete(link)) return;
    // resetAndDestroy sends RST where the socket is connected; destroy covers the rest.
    for (const socket of [link.client, link.upstream]) {
      if (socket.destroyed) continue;
      if (socket.readyState === "open") socket.resetAndDestroy();
      else socket.destroy();
    }
  }
}

function write(target: Socket, chunk: Buffer): void {
  if (!target.destroyed) target.write(chunk);
}

/**
 * Starts a proxy in front of the server that `url` names and returns it with `url`
 * rewritten to pass through it.
 */
export async function proxyFor(
  url: string,
  defaultPort: number,
): Promise<{ proxy: TcpProxy; url: string }> {
  const parsed = new URL(url);
  const proxy = new TcpProxy(parsed.hostname, Number(parsed.port || defaultPort));
  parsed.port = String(await proxy.listen());
  return { proxy, url: parsed.toString() };
}
