import { type Config, loadConfig } from "../../src/config.js";

/** The tests use their own database, created and migrated by the service at start. */
export const TEST_DATABASE_URL =
  process.env.TEST_DATABASE_URL ?? "postgresql://postgres@127.0.0.1:5432/events_test";
export const TEST_RABBITMQ_URL =
  process.env.TEST_RABBITMQ_URL ?? "amqp://guest:guest@127.0.0.1:5672";

/** Service configuration for tests: a free port, the test database, and `overrides`. */
export function testConfig(overrides: NodeJS.ProcessEnv = {}): Config {
  return loadConfig({
    PORT: "0",
    DATABASE_URL: TEST_DATABASE_URL,
    RABBITMQ_URL: TEST_RABBITMQ_URL,
    LOG_LEVEL: "debug",
    ...overrides,
  });
}
