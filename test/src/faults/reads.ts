import { randomUUID } from "node:crypto";
import { setTimeout as sleep } from "node:timers/promises";
import {
  Code,
  type CommandClient,
  ConnectError,
  createCommandClient,
  createOrderlySession,
  createQueryClient,
  type QueryClient,
} from "@orderly/client";
import { PaymentStatus } from "@orderly/contracts";
import { clientSecurity, serviceUrl } from "../secure-mode.js";

// Read-your-writes under faults: a few clients each write (CreateOrder, and every third order UpdatePaymentStatus) and
// read their write back at once with min_position = the position the command service returned — GetOrderSummary
// (order_summaries, Postgres) and ListCustomerOrders (customer_orders, Redis) — through the query service(s), round
// robin over the command and query instances. A read that answers must show the write: anything else is a stale read,
// the one outcome that must never happen. A read that does not answer (the wait budget ran out while a projector was
// down, the instance is restarting) is counted by status code, not a violation: the client is told to retry.
// Plus a SubscribeEvents follower from position 0: every position once, in order, across the faults.

export interface ReadCheckOptions {
  readonly commandPorts: readonly number[];
  readonly queryPorts: readonly number[];
  readonly signal: AbortSignal;
  /** Concurrent writers (default 4), each with customers of its own. */
  readonly clients?: number;
  /** Pause between one client's rounds (default 50 ms). */
  readonly pauseMs?: number;
  /** Deadline of a read: past the query service's wait budget (QUERY_MAX_WAIT_MS), so that the server answers first. */
  readonly readTimeoutMs?: number;
}

export interface ReadCheckReport {
  /** Reads with min_position that answered and showed the write. */
  readonly ok: { summaries: number; lists: number };
  /** Reads that answered without the write (must be empty). */
  readonly stale: string[];
  /** Reads without an answer, by status code name. */
  readonly unanswered: Record<string, number>;
  /** Commands without an answer (nothing to read back then). */
  readonly commandsFailed: number;
  /** When each read that showed its write answered (Date.now() ms): reads succeeded again after each fault. */
  readonly okAt: number[];
}

export async function checkReadsUnderLoad(options: ReadCheckOptions): Promise<ReadCheckReport> {
  const readTimeoutMs = options.readTimeoutMs ?? 40_000;
  // Plain clients, not a session: the min_position each read sends is exactly the one written here.
  const sessions: { commands: CommandClient; queries: QueryClient }[] = [];
  for (const command of options.commandPorts) {
    for (const query of options.queryPorts) {
      sessions.push({
        commands: createCommandClient({
          baseUrl: serviceUrl(command),
          timeoutMs: 10_000,
          retry: false,
          ...clientSecurity(),
        }),
        queries: createQueryClient({
          baseUrl: serviceUrl(query),
          timeoutMs: readTimeoutMs,
          retry: false,
          ...clientSecurity(),
        }),
      });
    }
  }
  const report = {
    ok: { summaries: 0, lists: 0 },
    stale: [] as string[],
    unanswered: {} as Record<string, number>,
    commandsFailed: 0,
    okAt: [] as number[],
  };
  const unanswered = (error: unknown) => {
    const code = error instanceof ConnectError ? Code[error.code] : String(error);
    report.unanswered[code] = (report.unanswered[code] ?? 0) + 1;
  };
  const client = async (c: number) => {
    let customerId = `reads-${c}-${randomUUID()}`;
    const mine = new Map<string, { version: number; paid: boolean }>();
    for (let round = c; !options.signal.aborted; round++) {
      const session = sessions[round % sessions.length] as (typeof sessions)[number];
      // Ten orders per customer, then a new one (a list of one page).
      if (mine.size >= 10) {
        customerId = `reads-${c}-${randomUUID()}`;
        mine.clear();
      }
      let orderId: string = randomUUID();
      let position: bigint;
      try {
        // Every third round pays an unpaid order of this customer's (a second event on its stream).
        const unpaid = [...mine].find(([, s]) => !s.paid)?.[0];
        if (round % 3 === 2 && unpaid !== undefined) {
          orderId = unpaid;
          const response = await session.commands.updatePaymentStatus({
            idempotencyKey: randomUUID(),
            orderId,
            status: PaymentStatus.PAID,
            amountMinor: 700n,
            paymentReference: `ref-${orderId}`,
          });
          position = response.accepted?.position ?? 0n;
          mine.set(orderId, { version: Number(response.accepted?.streamVersion ?? 0n), paid: true });
        } else {
          const response = await session.commands.createOrder({
            idempotencyKey: randomUUID(),
            orderId,
            customerId,
            currency: "EUR",
            items: [{ sku: "SKU-R", quantity: 1, unitPriceMinor: 700n }],
          });
          position = response.accepted?.position ?? 0n;
          mine.set(orderId, { version: 1, paid: false });
        }
      } catch {
        if (options.signal.aborted) break;
        report.commandsFailed++;
        await sleep(options.pauseMs ?? 50);
        continue;
      }
      const want = mine.get(orderId) as { version: number; paid: boolean };
      try {
        const { summary } = await session.queries.getOrderSummary({ orderId, minPosition: position });
        if (summary?.orderId !== orderId || Number(summary.version) < want.version) {
          report.stale.push(
            `GetOrderSummary(${orderId}, min_position ${position}) showed version ${summary?.version} < ${want.version}`,
          );
        } else {
          report.ok.summaries++;
          report.okAt.push(Date.now());
        }
      } catch (error) {
        unanswered(error);
      }
      try {
        const list = await session.queries.listCustomerOrders({ customerId, pageSize: 100, minPosition: position });
        const listed = new Map(list.orders.map((o) => [o.orderId, o]));
        const missing = [...mine].filter(([id, s]) => {
          const got = listed.get(id);
          return (
            got === undefined || Number(got.version) < s.version || (s.paid && got.paymentStatus !== PaymentStatus.PAID)
          );
        });
        if (missing.length > 0 || listed.size !== mine.size) {
          report.stale.push(
            `ListCustomerOrders(${customerId}, min_position ${position}) at ${list.consistency?.position}: ${missing.length} of ${mine.size} orders missing or behind, ${listed.size} listed`,
          );
        } else {
          report.ok.lists++;
          report.okAt.push(Date.now());
        }
      } catch (error) {
        unanswered(error);
      }
      await sleep(options.pauseMs ?? 50);
    }
  };
  await Promise.all(Array.from({ length: options.clients ?? 4 }, (_, c) => client(c)));
  return report;
}

export interface EventFollowReport {
  /** Events received. */
  readonly received: number;
  /** Positions received twice or out of order. */
  readonly outOfOrder: number;
  /** Positions skipped (the store's positions are gapless here: nothing was retired). */
  readonly gaps: number;
  /** The last position received. */
  readonly last: number;
  /** Why the stream ended, when not by the signal. */
  readonly error: string | undefined;
}

export interface EventFollower {
  /** Waits (up to 60 s) until the follower received `head`, then ends the subscription. */
  finish(head: number): Promise<EventFollowReport>;
}

/**
 * Follows SubscribeEvents from position 0 until `finish` is called (or `signal`: the test's end, whatever happened). Resubscribes from its last position when the stream
 * breaks (as a consumer does).
 */
export function followEvents(queryPort: number, signal: AbortSignal): EventFollower {
  const session = createOrderlySession({
    command: { baseUrl: serviceUrl(queryPort), ...clientSecurity() },
    query: { baseUrl: serviceUrl(queryPort), retry: false, ...clientSecurity() },
  });
  let received = 0;
  let outOfOrder = 0;
  let gaps = 0;
  let last = 0;
  let error: string | undefined;
  let target = Number.POSITIVE_INFINITY;
  const stop = new AbortController();
  signal.addEventListener("abort", () => stop.abort(), { once: true });
  const following = (async () => {
    while (!stop.signal.aborted) {
      try {
        for await (const event of session.subscribeEvents({ fromPosition: last, signal: stop.signal })) {
          const position = Number(event.position);
          if (position <= last) outOfOrder++;
          else if (position > last + 1) gaps++;
          last = Math.max(last, position);
          received++;
          if (last >= target) stop.abort();
        }
      } catch (e) {
        if (stop.signal.aborted) break;
        // The instance restarting: resubscribe from the last position. Anything else is reported.
        if (!(e instanceof ConnectError && e.code === Code.Unavailable)) error ??= String(e);
        await sleep(200);
      }
    }
  })();
  return {
    async finish(head) {
      target = head;
      const deadline = Date.now() + 60_000;
      while (last < head && Date.now() < deadline) await sleep(100);
      stop.abort();
      await following;
      return { received, outOfOrder, gaps, last, error };
    },
  };
}
