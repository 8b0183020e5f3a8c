import { describe, expect, it } from "vitest";
import { isTransientPostgresError, postgresErrorKind } from "./postgres-errors.js";

const pgError = (code: string, message = "boom") => Object.assign(new Error(message), { code });

describe("postgresErrorKind", () => {
  it("reads SQLSTATE classes", () => {
    expect(postgresErrorKind(pgError("55P03"))).toBe("busy");
    for (const code of ["08006", "53300", "57014", "57P01"])
      expect(postgresErrorKind(pgError(code))).toBe("unavailable");
    for (const code of ["40001", "40P01"]) expect(postgresErrorKind(pgError(code))).toBe("conflict");
    for (const code of ["22P02", "23505"]) expect(postgresErrorKind(pgError(code))).toBe("data");
    expect(postgresErrorKind(pgError("42P01", "relation does not exist"))).toBe("other");
  });

  it("treats socket errors and the driver's connection messages as unavailable, nothing else", () => {
    expect(postgresErrorKind(pgError("ECONNREFUSED"))).toBe("unavailable");
    expect(postgresErrorKind(new Error("Connection terminated unexpectedly"))).toBe("unavailable");
    expect(postgresErrorKind(new Error("Query read timeout"))).toBe("unavailable");
    expect(postgresErrorKind(new Error("Cannot use a pool after calling end on the pool"))).toBe("unavailable");
    expect(postgresErrorKind(new Error("cannot read property x of undefined"))).toBe("other");
    expect(postgresErrorKind(undefined)).toBe("other");
  });

  it("calls busy, unavailable and conflict transient", () => {
    expect(isTransientPostgresError(pgError("40001"))).toBe(true);
    expect(isTransientPostgresError(pgError("08006"))).toBe(true);
    expect(isTransientPostgresError(pgError("23505"))).toBe(false);
  });
});
