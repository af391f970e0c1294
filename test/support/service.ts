import { createLogger } from "../../src/logger.js";
import { type Service, startService } from "../../src/service.js";
import { testConfig } from "./environment.js";
import { LogCapture } from "./logs.js";

export interface TestService extends Service {
  readonly logs: LogCapture;
}

/** Starts the whole service in this process, on a free port, logging into memory. */
export async function startTestService(env: NodeJS.ProcessEnv = {}): Promise<TestService> {
  const logs = new LogCapture();
  const service = await startService(testConfig(env), createLogger("debug", logs));
  return Object.assign(service, { logs });
}
