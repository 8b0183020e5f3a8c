/**
 * node-postgres internals we rely on: a connected `pg.Client`'s backend process id, `client.processID` (public in
 * behaviour, not in the typings), which the event store uses to cancel a statement that ran out of time
 * (`pg_cancel_backend`). Undefined when the client no longer has it: the statement is then not cancelled, its
 * connection is discarded all the same (the safe fallback). `pg.int.test.ts` fails loudly when an upgrade drops it.
 */
export function backendProcessId(client: object): number | undefined {
  const pid = (client as { processID?: unknown }).processID;
  return typeof pid === "number" && Number.isSafeInteger(pid) && pid > 0 ? pid : undefined;
}
