import { ordersBus, readOrdersStreamStatus, recreateOrdersStream } from "@orderly/event-bus";
import { PostgresRelayStore, RelayFence, StoreRecovery } from "@orderly/event-store-postgres";
import { OutboxRelay } from "@orderly/outbox-relay";
import type { CliContext } from "./context.js";

/** The relay whose checkpoint recover moves and whose lock it takes while the stream is recreated. */
export const RELAY = "outbox-relay";

/** Fences the relays, recreates the stream, lets a relay republish the store into it and waits until it has. */
export async function republish(context: CliContext, step: (line: string) => void): Promise<void> {
  const pool = await context.pool();
  const jsm = await context.jsm();
  const { stack } = context;
  const fence = await RelayFence.acquire(stack.databaseUrl, {
    name: RELAY,
    onTerminate: (pid) =>
      step(`ended the session of the active relay (pid ${pid}); it stands by until the stream is back`),
  });
  try {
    await new StoreRecovery(pool).setRelayCheckpoint(RELAY, { position: 0, eventId: undefined });
    await recreateOrdersStream(jsm, stack.namespace, { replicas: stack.streamReplicas });
  } finally {
    await fence.release();
  }
  step("stream recreated empty; republishing it from the store");
  const target = await new StoreRecovery(pool).lastEventPosition();
  // Whichever relay takes the lock (this one, or a running service's) republishes from the empty stream's start.
  const relay = new OutboxRelay({
    store: new PostgresRelayStore(stack.databaseUrl),
    natsUrl: stack.natsServers,
    natsOptions: stack.nats,
    bus: ordersBus(stack.namespace, { replicas: stack.streamReplicas }),
    name: RELAY,
    logger: { debug() {}, info() {}, warn() {}, error() {} },
    pollIntervalMs: 200,
  });
  relay.start();
  const progress = context.progress("republishing the stream", target);
  try {
    const deadline = Date.now() + Math.max(120_000, target);
    for (;;) {
      const status = await readOrdersStreamStatus(jsm, stack.namespace);
      const tail = status.exists ? (status.tail?.position ?? 0) : 0;
      progress.update(Math.min(tail, target));
      if (tail >= target) break;
      if (Date.now() > deadline)
        throw new Error(`the stream reached position ${tail} of ${target} in the time allowed`);
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
  } finally {
    progress.stop();
    await relay.stop();
  }
  step(`stream republished: it holds the store's events up to ${target}`);
}
