/**
 * Creates the database named by DATABASE_URL if it is missing and applies the pending
 * migrations, as the service does at start-up. Run it with `npm run migrate`.
 */
import { type Config, ConfigError, loadConfig } from "../src/config.js";
import { createLogger } from "../src/logger.js";
import { applyMigrations, ensureDatabase } from "../src/persistence/migrate.js";

/** Exit code when the configuration is invalid, as EX_CONFIG in sysexits.h. */
const EXIT_CONFIG = 78;

let config: Config;
try {
  config = loadConfig();
} catch (error) {
  if (!(error instanceof ConfigError)) throw error;
  createLogger("info").fatal({ problems: error.problems }, error.message);
  process.exit(EXIT_CONFIG);
}

const logger = createLogger(config.logLevel);
try {
  await ensureDatabase(config.databaseUrl, logger);
  const applied = await applyMigrations(config.databaseUrl, logger);
  logger.info({ applied: applied.length }, "database is up to date");
} catch (error) {
  logger.fatal({ err: error }, "migration failed");
  process.exit(1);
}
