import { createLogger } from "../../src/logger.js";
import { type Service, startService } from "../../src/service.js";
import { BrokerProbe } from "./broker.js";
import { DatabaseProbe } from "./database.js";
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

/** The service under test with the probes that read its queue and table. */
export interface ServiceFixture {
  readonly service: TestService;
  readonly broker: BrokerProbe;
  readonly database: DatabaseProbe;
}

/**
 * Starts the service and both probes before the tests of the enclosing describe, and closes
 * them after. The fields are set once the `before` hook has run.
 */
export function useTestService(env: NodeJS.ProcessEnv = {}): ServiceFixture {
  const fixture = {} as { service: TestService; broker: BrokerProbe; database: DatabaseProbe };
  before(async () => {
    fixture.service = await startTestService(env);
    fixture.broker = new BrokerProbe();
    fixture.database = new DatabaseProbe();
  });
  after(async () => {
    await fixture.service?.close();
    await fixture.broker?.close();
    await fixture.database?.close();
  });
  return fixture;
}
