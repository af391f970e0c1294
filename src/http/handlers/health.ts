import type { Request, Response } from "express";
import type { Context } from "openapi-backend";

import type { components } from "../../generated/openapi.js";
import type { OperationHandler } from "../api.js";

type Readiness = components["schemas"]["Readiness"];
type DependencyStatus = components["schemas"]["DependencyStatus"];

/** Reachability checks of the two dependencies. */
export interface DependencyProbes {
  /** Resolves when a trivial query succeeds. */
  readonly database: () => Promise<void>;
  /** Whether the broker connection is open and not blocked. */
  readonly broker: () => boolean;
}

/** Maximum wait in ms for the database check, so that the probe answers promptly. */
const DATABASE_PROBE_TIMEOUT_MS = 1000;

/** GET /healthz: the process is running. */
export const getHealth: OperationHandler = (_context: Context, _request: Request, response) => {
  response.status(200).json({ status: "ok" });
};

/** GET /readyz: 200 when PostgreSQL responds and the RabbitMQ connection is open, else 503. */
export function getReadiness(probes: DependencyProbes): OperationHandler {
  return async (_context: Context, _request: Request, response: Response) => {
    const [database, broker] = await Promise.all([
      probeDatabase(probes.database),
      probes.broker() ? "up" : "down",
    ] as const);
    const ready = database === "up" && broker === "up";
    const body: Readiness = { status: ready ? "ready" : "not_ready", checks: { database, broker } };
    response.status(ready ? 200 : 503).json(body);
  };
}

async function probeDatabase(ping: () => Promise<void>): Promise<DependencyStatus> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<DependencyStatus>((resolve) => {
    timer = setTimeout(() => resolve("down"), DATABASE_PROBE_TIMEOUT_MS);
  });
  const result = ping().then(
    (): DependencyStatus => "up",
    (): DependencyStatus => "down",
  );
  try {
    return await Promise.race([result, timeout]);
  } finally {
    clearTimeout(timer);
  }
}
