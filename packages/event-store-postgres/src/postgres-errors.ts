/**
 * One reading of a Postgres (or `pg` driver) error, for every component that talks to Postgres:
 * - `busy`: a lock we asked for without waiting is held (55P03): try again shortly;
 * - `unavailable`: the connection, the server or its resources failed (class 08, 53, 57 including statement timeout
 *   57014 and admin shutdown 57P01, a socket error such as ECONNRESET, or a driver message saying so);
 * - `conflict`: a serialization failure or deadlock (class 40): the transaction may simply be run again;
 * - `data`: the statement's data was refused (class 22 data exception, 23 integrity constraint);
 * - `other`: anything else, a bug or a schema problem: retrying does not help.
 */
export type PostgresErrorKind = "busy" | "unavailable" | "conflict" | "data" | "other";

/** The message `pg` gives a query that hit its client-side `query_timeout`. */
export const QUERY_TIMEOUT_MESSAGE = "Query read timeout";

const unavailableMessage =
  /connect|terminat|timeout|socket|closed|Cannot use a pool after calling end|not queryable|Query read timeout/i;

export function postgresErrorKind(error: unknown): PostgresErrorKind {
  const code = (error as { code?: unknown } | null)?.code;
  if (typeof code === "string" && /^[0-9A-Z]{5}$/.test(code)) {
    if (code === "55P03") return "busy";
    if (/^(08|53|57)/.test(code)) return "unavailable";
    if (code.startsWith("40")) return "conflict";
    if (code.startsWith("22") || code.startsWith("23")) return "data";
    return "other";
  }
  if (typeof code === "string" && /^E[A-Z]+$/.test(code)) return "unavailable"; // ECONNREFUSED, ECONNRESET, EPIPE...
  const message = error instanceof Error ? error.message : String(error);
  return unavailableMessage.test(message) ? "unavailable" : "other";
}

/** Worth retrying the same work again: busy, unavailable or a conflict. */
export function isTransientPostgresError(error: unknown): boolean {
  const kind = postgresErrorKind(error);
  return kind === "busy" || kind === "unavailable" || kind === "conflict";
}
