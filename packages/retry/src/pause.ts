import { setTimeout as delay } from "node:timers/promises";

/**
 * Waits `ms`, or less when `signal` aborts; never rejects (a stopping loop checks its own flag after the pause).
 * For a wait that must fail on abort, use `setTimeout` from `node:timers/promises` with `{ signal }` directly.
 */
export async function pause(ms: number, signal?: AbortSignal): Promise<void> {
  if (signal?.aborted) return;
  try {
    await delay(ms, undefined, { signal });
  } catch (error) {
    if (!signal?.aborted) throw error;
  }
}
