import { expect } from "chai";

import { type Config, ConfigError, loadConfig } from "../../src/config.js";

const DEFAULTS: Config = {
  port: 3000,
  host: "127.0.0.1",
  databaseUrl: "postgresql://postgres@127.0.0.1:5432/events",
  databasePoolSize: 10,
  databaseConnectTimeoutMs: 2000,
  databaseStatementTimeoutMs: 5000,
  rabbitmqUrl: "amqp://guest:guest@127.0.0.1:5672",
  rabbitmqConnectTimeoutMs: 3000,
  rabbitmqReconnectMaxMs: 2000,
  rabbitmqHeartbeatSeconds: 10,
  bodyLimitBytes: 1048576,
  batchMaxEvents: 500,
  publishDeadlineMs: 3000,
  shutdownTimeoutMs: 8000,
  pendingTimeoutMs: 60000,
  sweepIntervalMs: 30000,
  idempotencyKeyRetentionHours: 24,
  logLevel: "info",
};

/** Calls loadConfig and returns the ConfigError that it throws. */
function configErrorOf(env: NodeJS.ProcessEnv): ConfigError {
  try {
    loadConfig(env);
  } catch (error) {
    expect(error).to.be.instanceOf(ConfigError);
    return error as ConfigError;
  }
  expect.fail(`loadConfig accepted ${JSON.stringify(env)}`);
}

describe("loadConfig", () => {
  it("loadConfig returns the defaults for an empty environment", () => {
    expect(loadConfig({})).to.deep.equal(DEFAULTS);
  });

  it("loadConfig parses every variable", () => {
    const config = loadConfig({
      PORT: "8080",
      HOST: "0.0.0.0",
      DATABASE_URL: "postgres://gateway:pw@db.internal:6432/events",
      DATABASE_POOL_SIZE: "25",
      DATABASE_CONNECT_TIMEOUT_MS: "1500",
      DATABASE_STATEMENT_TIMEOUT_MS: "7000",
      RABBITMQ_URL: "amqps://gateway:pw@mq.internal:5671/prod",
      RABBITMQ_CONNECT_TIMEOUT_MS: "4000",
      RABBITMQ_RECONNECT_MAX_MS: "200",
      RABBITMQ_HEARTBEAT_SECONDS: "0",
      BODY_LIMIT_BYTES: "2048",
      BATCH_MAX_EVENTS: "50",
      PUBLISH_DEADLINE_MS: "600000",
      SHUTDOWN_TIMEOUT_MS: "0",
      PENDING_TIMEOUT_MS: "900000",
      SWEEP_INTERVAL_MS: "5000",
      IDEMPOTENCY_KEY_RETENTION_HOURS: "48",
      LOG_LEVEL: "debug",
    });

    expect(config).to.deep.equal({
      port: 8080,
      host: "0.0.0.0",
      databaseUrl: "postgres://gateway:pw@db.internal:6432/events",
      databasePoolSize: 25,
      databaseConnectTimeoutMs: 1500,
      databaseStatementTimeoutMs: 7000,
      rabbitmqUrl: "amqps://gateway:pw@mq.internal:5671/prod",
      rabbitmqConnectTimeoutMs: 4000,
      rabbitmqReconnectMaxMs: 200,
      rabbitmqHeartbeatSeconds: 0,
      bodyLimitBytes: 2048,
      batchMaxEvents: 50,
      publishDeadlineMs: 600000,
      shutdownTimeoutMs: 0,
      pendingTimeoutMs: 900000,
      sweepIntervalMs: 5000,
      idempotencyKeyRetentionHours: 48,
      logLevel: "debug",
    });
  });

  it("loadConfig uses the default for an empty string", () => {
    const config = loadConfig({ PORT: "", DATABASE_URL: "", LOG_LEVEL: "" });

    expect(config.port).to.equal(DEFAULTS.port);
    expect(config.databaseUrl).to.equal(DEFAULTS.databaseUrl);
    expect(config.logLevel).to.equal(DEFAULTS.logLevel);
  });

  it("loadConfig ignores variables it does not read", () => {
    expect(loadConfig({ PATH: "/usr/bin", NODE_ENV: "production" })).to.deep.equal(DEFAULTS);
  });

  it("loadConfig returns a frozen object", () => {
    const config = loadConfig({});

    expect(Object.isFrozen(config)).to.equal(true);
    expect(() => {
      (config as { port: number }).port = 1;
    }).to.throw(TypeError);
  });

  it("loadConfig reports every invalid variable at once", () => {
    const error = configErrorOf({ PORT: "abc", PUBLISH_DEADLINE_MS: "5" });

    expect(error.problems).to.deep.equal([
      'PORT must be an integer from 0 to 65535 (got "abc")',
      'PUBLISH_DEADLINE_MS must be an integer from 100 to 600000 (got "5")',
    ]);
    expect(error.message).to.equal(
      'Invalid configuration: PORT must be an integer from 0 to 65535 (got "abc"); ' +
        'PUBLISH_DEADLINE_MS must be an integer from 100 to 600000 (got "5")',
    );
    expect(error.name).to.equal("ConfigError");
  });

  for (const text of ["-1", "65536", "1e3", "3000 ", " ", "0x50", "80.0"]) {
    it(`loadConfig rejects PORT=${JSON.stringify(text)}`, () => {
      const error = configErrorOf({ PORT: text });

      expect(error.problems).to.deep.equal([
        `PORT must be an integer from 0 to 65535 (got ${JSON.stringify(text)})`,
      ]);
    });
  }

  it("loadConfig accepts the bounds of an integer range", () => {
    expect(loadConfig({ PORT: "0" }).port).to.equal(0);
    expect(loadConfig({ PORT: "65535" }).port).to.equal(65535);
  });

  it("loadConfig rejects a host with whitespace", () => {
    const error = configErrorOf({ HOST: "local host" });

    expect(error.problems).to.deep.equal([
      'HOST must be a host name or IP address (got "local host")',
    ]);
  });

  it("loadConfig rejects an unknown log level", () => {
    const error = configErrorOf({ LOG_LEVEL: "verbose" });

    expect(error.problems).to.deep.equal([
      'LOG_LEVEL must be one of fatal, error, warn, info, debug, trace, silent (got "verbose")',
    ]);
  });

  it("loadConfig rejects URLs with a wrong protocol", () => {
    const error = configErrorOf({
      DATABASE_URL: "mysql://127.0.0.1:3306/events",
      RABBITMQ_URL: "http://127.0.0.1:15672",
    });

    expect(error.problems).to.deep.equal([
      "DATABASE_URL must use one of the protocols postgresql:, postgres:",
      "RABBITMQ_URL must use one of the protocols amqp:, amqps:",
    ]);
  });

  it("loadConfig rejects text that is not a URL", () => {
    const error = configErrorOf({ RABBITMQ_URL: "127.0.0.1:5672" });

    expect(error.problems).to.deep.equal([
      "RABBITMQ_URL must be a URL such as amqp://host:port/...",
    ]);
  });

  it("loadConfig leaves the database password out of the error", () => {
    const error = configErrorOf({ DATABASE_URL: "ftp://user:secret@x" });

    expect(error.message).not.to.include("secret");
    expect(error.problems.join("\n")).not.to.include("secret");
  });

  it("loadConfig leaves the broker password out of the error", () => {
    const error = configErrorOf({ RABBITMQ_URL: "amqp//user:secret@x" });

    expect(error.message).not.to.include("secret");
    expect(error.problems.join("\n")).not.to.include("secret");
  });

  it("loadConfig rejects a pending timeout not above the publish deadline", () => {
    const error = configErrorOf({ PENDING_TIMEOUT_MS: "3000", PUBLISH_DEADLINE_MS: "3000" });

    expect(error.problems).to.deep.equal([
      "PENDING_TIMEOUT_MS (3000) must be greater than PUBLISH_DEADLINE_MS (3000)",
    ]);
  });
});
