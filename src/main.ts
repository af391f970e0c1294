import { loadConfigOrExit } from "./config.js";
import { createLogger } from "./logger.js";
import { startService } from "./service.js";

async function main(): Promise<void> {
  const config = loadConfigOrExit((error) => {
    createLogger("info").fatal({ problems: error.problems }, error.message);
  });

  const logger = createLogger(config.logLevel);
  process.on("unhandledRejection", (reason) => {
    logger.fatal({ err: reason }, "unhandled promise rejection");
    process.exit(1);
  });

  let service: Awaited<ReturnType<typeof startService>>;
  try {
    service = await startService(config, logger);
  } catch (error) {
    logger.fatal({ err: error }, "start-up failed");
    process.exit(1);
  }
  logger.info({ url: service.url }, "service started");

  const stop = async (signal: NodeJS.Signals) => {
    logger.info({ signal }, "shutting down");
    try {
      await service.close();
      logger.info("service stopped");
      process.exit(0);
    } catch (error) {
      logger.error({ err: error }, "shutdown failed");
      process.exit(1);
    }
  };
  for (const signal of ["SIGTERM", "SIGINT"] as const) {
    process.once(signal, () => void stop(signal));
  }
}

await main();
