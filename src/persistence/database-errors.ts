import { DatabaseError, type GatewayError, RequestError } from "../errors.js";

/**
 * Returns the PostgreSQL SQLSTATE of an error thrown through Prisma's driver adapter, or
 * undefined when the server never responded (connection refused, timeout).
 */
export function sqlStateOf(error: unknown): string | undefined {
  const meta = (error as { meta?: { driverAdapterError?: { cause?: { originalCode?: unknown } } } })
    ?.meta;
  const code = meta?.driverAdapterError?.cause?.originalCode;
  return typeof code === "string" ? code : undefined;
}

/** Returns the name of the constraint or index that a PostgreSQL error names, if any. */
export function constraintOf(error: unknown): string | undefined {
  const cause = (error as { meta?: { driverAdapterError?: { cause?: { constraint?: unknown } } } })
    ?.meta?.driverAdapterError?.cause;
  const constraint = cause?.constraint as { index?: unknown } | undefined;
  return typeof constraint?.index === "string" ? constraint.index : undefined;
}

/**
 * Turns an error from storing event data into a gateway error. SQLSTATE class 22 (data
 * exception, such as a number beyond the range of `numeric`) means that the data cannot be
 * stored, so the client must fix it. Anything else is a database failure.
 */
export function toDatabaseError(operation: string, error: unknown): GatewayError {
  if (sqlStateOf(error)?.startsWith("22")) {
    return new RequestError(
      "INVALID_BODY",
      "The event data contains a value that PostgreSQL cannot store, such as a number " +
        "outside the range of its numeric type.",
      {
        cause: error,
        errors: [{ path: "/body", message: "contains a value that cannot be stored" }],
      },
    );
  }
  return new DatabaseError(operation, error);
}
