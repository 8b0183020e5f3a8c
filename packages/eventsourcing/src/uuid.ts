const uuid = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const canonical = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

/** 8-4-4-4-12 hex digits, either case (what Postgres's `uuid` type accepts in that form). */
export function isUuid(text: string): boolean {
  return uuid.test(text);
}

/** The canonical form only: 8-4-4-4-12 lowercase hex digits (what ids are stored and compared as). */
export function isCanonicalUuid(text: string): boolean {
  return canonical.test(text);
}
