import { expect } from "chai";

import { DatabaseError, RequestError } from "../../../src/errors.js";
import { sqlStateOf, toDatabaseError } from "../../../src/persistence/database-errors.js";

/** Builds an error shaped like the ones Prisma throws through its PostgreSQL driver adapter. */
function prismaError(sqlState: unknown): Error {
  return Object.assign(new Error("Invalid `prisma.$executeRaw()` invocation"), {
    code: "P2010",
    meta: { driverAdapterError: { cause: { originalCode: sqlState, kind: "postgres" } } },
  });
}

describe("sqlStateOf", () => {
  it("sqlStateOf returns the SQLSTATE of a driver adapter error", () => {
    expect(sqlStateOf(prismaError("22003"))).to.equal("22003");
  });

  it("sqlStateOf returns undefined for an error without meta", () => {
    expect(sqlStateOf(new Error("connect ECONNREFUSED 127.0.0.1:5432"))).to.equal(undefined);
  });

  it("sqlStateOf returns undefined for a code that is not a string", () => {
    expect(sqlStateOf(prismaError(22003))).to.equal(undefined);
  });

  it("sqlStateOf returns undefined for null and undefined", () => {
    expect(sqlStateOf(null)).to.equal(undefined);
    expect(sqlStateOf(undefined)).to.equal(undefined);
  });
});

describe("toDatabaseError", () => {
  for (const sqlState of ["22003", "22P02"]) {
    it(`toDatabaseError turns SQLSTATE ${sqlState} into INVALID_BODY`, () => {
      const cause = prismaError(sqlState);

      const error = toDatabaseError("storing the event", cause);

      expect(error).to.be.instanceOf(RequestError);
      expect(error.code).to.equal("INVALID_BODY");
      expect(error.status).to.equal(400);
      expect(error.errors).to.deep.equal([
        { path: "/body", message: "contains a value that cannot be stored" },
      ]);
      expect(error.cause).to.equal(cause);
    });
  }

  it("toDatabaseError turns SQLSTATE 23505 into DATABASE_UNAVAILABLE", () => {
    const cause = prismaError("23505");

    const error = toDatabaseError("storing the event", cause);

    expect(error).to.be.instanceOf(DatabaseError);
    expect(error.code).to.equal("DATABASE_UNAVAILABLE");
    expect(error.status).to.equal(500);
    expect(error.cause).to.equal(cause);
  });

  it("toDatabaseError turns an error without meta into DATABASE_UNAVAILABLE", () => {
    const cause = new Error("Connection terminated due to connection timeout");

    const error = toDatabaseError("storing the event", cause);

    expect(error).to.be.instanceOf(DatabaseError);
    expect(error.code).to.equal("DATABASE_UNAVAILABLE");
    expect(error.message).to.equal(
      "The database failed while storing the event. Nothing was published; retry later.",
    );
  });
});
