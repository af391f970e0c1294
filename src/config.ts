/**
 * Service configuration, read once from environment variables at start-up.
 * Every setting has a default; an invalid value stops the start with a message naming it.
 */

export const LOG_LEVELS = ["fatal", "error", "warn", "info", "debug", "trace", "silent"] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

export interface Config {
  /** TCP port of the HTTP server. 0 picks a free port. */
  readonly port: number;
  /** Address the HTTP server listens on. */
  readonly host: string;
  readonly databaseUrl: string;
  /** Maximum number of PostgreSQL connections in the pool. */
  readonly databasePoolSize: number;
  /** Maximum wait in ms for a pooled PostgreSQL connection, including connecting. */
  readonly databaseConnectTimeoutMs: number;
  /** Maximum run time in ms of one SQL statement, enforced by PostgreSQL. */
  readonly databaseStatementTimeoutMs: number;
  readonly rabbitmqUrl: string;
  /** Maximum time in ms to open the AMQP connection, TCP and handshake included. */
  readonly rabbitmqConnectTimeoutMs: number;
  /** Upper bound in ms of the randomized backoff between reconnection attempts. */
  readonly rabbitmqReconnectMaxMs: number;
  /** AMQP heartbeat interval in seconds; a silent broker is dropped after two intervals. */
  readonly rabbitmqHeartbeatSeconds: number;
  /** Maximum request body size in bytes. */
  readonly bodyLimitBytes: number;
  /** Maximum number of events in one batch request. */
  readonly batchMaxEvents: number;
  /** Total time in ms allowed for publishing one event, retries included. */
  readonly publishDeadlineMs: number;
  /** Maximum time in ms that a shutdown waits for requests in flight. */
  readonly shutdownTimeoutMs: number;
  /** Age in ms after which a `pending` event counts as abandoned and is marked `failed`. */
  readonly pendingTimeoutMs: number;
  /** Interval in ms between sweeps for abandoned events and expired idempotency keys. */
  readonly sweepIntervalMs: number;
  /** Minimum time in hours that an Idempotency-Key is remembered. */
  readonly idempotencyKeyRetentionHours: number;
  readonly logLevel: LogLevel;
}

/** One environment variable: its name, default and how its text becomes a value. */
interface Setting<K extends keyof Config> {
  readonly key: K;
  readonly variable: string;
  readonly defaultValue: string;
  readonly parse: (text: string) => Config[K];
  /** The value may contain a password, so error messages leave it out. */
  readonly secret?: true;
}

export class ConfigError extends Error {
  override readonly name = "ConfigError";

  constructor(readonly problems: readonly string[]) {
    super(`Invalid configuration: ${problems.join("; ")}`);
  }
}

function integer(min: number, max: number): (text: string) => number {
  return (text) => {
    const value = Number(text);
    if (!/^\d+$/.test(text) || !Number.isSafeInteger(value) || value < min || value > max) {
      throw new Error(`must be an integer from ${min} to ${max}`);
    }
    return value;
  };
}

function url(protocols: readonly string[]): (text: string) => string {
  return (text) => {
    let parsed: URL;
    try {
      parsed = new URL(text);
    } catch {
      throw new Error(`must be a URL such as ${protocols[0]}//host:port/...`);
    }
    if (!protocols.includes(parsed.protocol)) {
      throw new Error(`must use one of the protocols ${protocols.join(", ")}`);
    }
    return text;
  };
}

function host(text: string): string {
  if (text.length === 0 || /\s/.test(text)) {
    throw new Error("must be a host name or IP address");
  }
  return text;
}

function logLevel(text: string): LogLevel {
  const level = LOG_LEVELS.find((candidate) => candidate === text);
  if (level === undefined) {
    throw new Error(`must be one of ${LOG_LEVELS.join(", ")}`);
  }
  return level;
}

type AnySetting = { [K in keyof Config]: Setting<K> }[keyof Config];

/** The environment variables, in the order of the README's configuration table. */
export const SETTINGS: readonly AnySetting[] = [
  { key: "port", variable: "PORT", defaultValue: "3000", parse: integer(0, 65535) },
  { key: "host", variable: "HOST", defaultValue: "127.0.0.1", parse: host },
  {
    key: "databaseUrl",
    variable: "DATABASE_URL",
    defaultValue: "postgresql://postgres@127.0.0.1:5432/events",
    parse: url(["postgresql:", "postgres:"]),
    secret: true,
  },
  {
    key: "databasePoolSize",
    variable: "DATABASE_POOL_SIZE",
    defaultValue: "10",
    parse: integer(1, 1000),
  },
  {
    key: "databaseConnectTimeoutMs",
    variable: "DATABASE_CONNECT_TIMEOUT_MS",
    defaultValue: "2000",
    parse: integer(1, 600_000),
  },
  {
    key: "databaseStatementTimeoutMs",
    variable: "DATABASE_STATEMENT_TIMEOUT_MS",
    defaultValue: "5000",
    parse: integer(1, 600_000),
  },
  {
    key: "rabbitmqUrl",
    variable: "RABBITMQ_URL",
    defaultValue: "amqp://guest:guest@127.0.0.1:5672",
    parse: url(["amqp:", "amqps:"]),
    secret: true,
  },
  {
    key: "rabbitmqConnectTimeoutMs",
    variable: "RABBITMQ_CONNECT_TIMEOUT_MS",
    defaultValue: "3000",
    parse: integer(1, 600_000),
  },
  {
    key: "rabbitmqReconnectMaxMs",
    variable: "RABBITMQ_RECONNECT_MAX_MS",
    defaultValue: "2000",
    parse: integer(200, 600_000),
  },
  {
    key: "rabbitmqHeartbeatSeconds",
    variable: "RABBITMQ_HEARTBEAT_SECONDS",
    defaultValue: "10",
    parse: integer(0, 3600),
  },
  {
    key: "bodyLimitBytes",
    variable: "BODY_LIMIT_BYTES",
    defaultValue: "1048576",
    // RabbitMQ 4 rejects messages over 16 MiB by default (max_message_size), closing the
    // channel that every request shares.
    parse: integer(2, 16 * 1024 * 1024),
  },
  {
    key: "batchMaxEvents",
    variable: "BATCH_MAX_EVENTS",
    defaultValue: "500",
    parse: integer(1, 10_000),
  },
  {
    key: "publishDeadlineMs",
    variable: "PUBLISH_DEADLINE_MS",
    defaultValue: "3000",
    parse: integer(100, 600_000),
  },
  {
    key: "shutdownTimeoutMs",
    variable: "SHUTDOWN_TIMEOUT_MS",
    defaultValue: "8000",
    parse: integer(0, 600_000),
  },
  {
    key: "pendingTimeoutMs",
    variable: "PENDING_TIMEOUT_MS",
    defaultValue: "60000",
    parse: integer(1000, 86_400_000),
  },
  {
    key: "sweepIntervalMs",
    variable: "SWEEP_INTERVAL_MS",
    defaultValue: "30000",
    parse: integer(100, 86_400_000),
  },
  {
    key: "idempotencyKeyRetentionHours",
    variable: "IDEMPOTENCY_KEY_RETENTION_HOURS",
    defaultValue: "24",
    parse: integer(1, 24 * 365),
  },
  { key: "logLevel", variable: "LOG_LEVEL", defaultValue: "info", parse: logLevel },
];

/**
 * Builds the configuration from `env`, using the default for each unset or empty variable.
 * Throws ConfigError listing every invalid variable, not only the first.
 */
export function loadConfig(env: NodeJS.ProcessEnv = process.env): Config {
  const values: Partial<Record<keyof Config, unknown>> = {};
  const problems: string[] = [];

  for (const setting of SETTINGS) {
    const raw = env[setting.variable];
    const text = raw === undefined || raw === "" ? setting.defaultValue : raw;
    try {
      values[setting.key] = setting.parse(text);
    } catch (error) {
      const reason = error instanceof Error ? error.message : String(error);
      const shown = setting.secret ? "" : ` (got ${JSON.stringify(text)})`;
      problems.push(`${setting.variable} ${reason}${shown}`);
    }
  }

  if (problems.length > 0) {
    throw new ConfigError(problems);
  }
  const config = values as unknown as Config;
  // A request still publishing must never look abandoned to the sweep.
  if (config.pendingTimeoutMs <= config.publishDeadlineMs) {
    throw new ConfigError([
      `PENDING_TIMEOUT_MS (${config.pendingTimeoutMs}) must be greater than ` +
        `PUBLISH_DEADLINE_MS (${config.publishDeadlineMs})`,
    ]);
  }
  return Object.freeze(config);
}

/** Exit code when the configuration is invalid, as EX_CONFIG in sysexits.h. */
export const EXIT_CONFIG = 78;

/**
 * Loads the configuration for a command. On invalid configuration it passes the error to
 * `report` and exits the process with EXIT_CONFIG.
 */
export function loadConfigOrExit(
  report: (error: ConfigError) => void = (error) => console.error(error.message),
): Config {
  try {
    return loadConfig();
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    report(error);
    process.exit(EXIT_CONFIG);
  }
}
