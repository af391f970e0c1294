/**
 * Creates the database named by DATABASE_URL if it is missing and applies the pending
 * migrations, as the service does at start-up. Run it with `npm run migrate`.
 */
import { loadConfigOrExit } from "../src/config.js";
import { createLogger } from "../src/logger.js";
import { applyMigrations, ensureDatabase } from "../src/persistence/migrate.js";

const config = loadConfigOrExit((error) => {
  createLogger("info").fatal({ problems: error.problems }, error.message);
});

const logger = createLogger(config.logLevel);
try {
  await ensureDatabase(config.databaseUrl, logger);
  const applied = await applyMigrations(config.databaseUrl, logger);
  logger.info({ applied: applied.length }, "database is up to date");
} catch (error) {
  logger.fatal({ err: error }, "migration failed");
  process.exit(1);
}
