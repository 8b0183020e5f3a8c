import type { CommandClient, QueryClient } from "@orderly/client";
import { type CommandAccepted, OrderStatus, PaymentStatus, type ReadModelPosition } from "@orderly/contracts";

export interface TourOptions {
  readonly commands: CommandClient;
  readonly queries: QueryClient;
  /** Where each line goes. */
  readonly print: (line: string) => void;
  /** For the closing pointers. */
  readonly metricsUrls: readonly { service: string; url: string }[];
  /** A load test command line for this stack. */
  readonly loadtestExample: string;
}

/** One row of the closing table. */
export interface StepTiming {
  readonly step: string;
  readonly position: bigint;
  readonly commandMs: number;
  /** From sending the command until each read model returned it (read with min_position). */
  readonly visiblePostgresMs: number;
  readonly visibleRedisMs: number;
}

/** A result the tour did not expect: the smoke test fails on it (exit 1). */
export class TourFindingError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "TourFindingError";
  }
}

const ms = (from: number) => performance.now() - from;
const fmt = (value: number) => `${value.toFixed(1)} ms`;
const money = (minor: bigint, currency: string) => `${(Number(minor) / 100).toFixed(2)} ${currency}`;
const lag = (p: ReadModelPosition | undefined) =>
  p ? `${p.readModel} at ${p.position}, lag ${p.lagSeconds.toFixed(3)} s` : "no consistency reported";

/**
 * The guided tour: places an order, pays and ships it, places and cancels another; reads each step back from both
 * read models with `min_position` (read-your-writes), streams WaitForPosition, and prints positions, lag and the
 * command→visible time of every step. Throws TourFindingError when a read model shows something else than expected.
 */
export async function runTour(options: TourOptions): Promise<StepTiming[]> {
  const { commands, queries, print } = options;
  const customerId = `demo-${Date.now().toString(36)}`;
  const timings: StepTiming[] = [];

  /**
   * Sends a command with a fresh idempotency key, then reads the order back from both read models with the command's
   * position.
   */
  async function step(
    title: string,
    send: (idempotencyKey: string) => Promise<{ readonly accepted?: CommandAccepted | undefined }>,
    expected: { status: OrderStatus; paidMinor?: bigint },
  ): Promise<CommandAccepted> {
    print(`\n${timings.length + 1}. ${title}`);
    const started = performance.now();
    const accepted = (await send(key())).accepted;
    const commandMs = ms(started);
    if (!accepted) throw new TourFindingError(`${title}: no CommandAccepted in the reply`);
    print(
      `   accepted: order ${accepted.orderId}, stream version ${accepted.streamVersion}, position ${accepted.position} (${fmt(commandMs)})`,
    );
    const [pg, redis] = await Promise.all([
      queries.getOrderSummary({ orderId: accepted.orderId, minPosition: accepted.position }).then((r) => ({
        r,
        at: ms(started),
      })),
      queries.listCustomerOrders({ customerId, minPosition: accepted.position }).then((r) => ({ r, at: ms(started) })),
    ]);
    const summary = pg.r.summary;
    if (summary?.status !== expected.status) {
      throw new TourFindingError(
        `${title}: order_summaries shows ${summary ? OrderStatus[summary.status] : "nothing"}, expected ${OrderStatus[expected.status]}`,
      );
    }
    if (expected.paidMinor !== undefined && summary.paidMinor !== expected.paidMinor) {
      throw new TourFindingError(`${title}: paid ${summary.paidMinor}, expected ${expected.paidMinor}`);
    }
    const listed = redis.r.orders.find((o) => o.orderId === accepted.orderId);
    if (listed?.status !== expected.status) {
      throw new TourFindingError(
        `${title}: customer_orders shows ${listed ? OrderStatus[listed.status] : "nothing"}, expected ${OrderStatus[expected.status]}`,
      );
    }
    print(
      `   GetOrderSummary(min_position=${accepted.position}): ${OrderStatus[summary.status]}, total ${money(summary.totalMinor, summary.currency)}, paid ${money(summary.paidMinor, summary.currency)}, version ${summary.version}`,
    );
    print(`     visible in Postgres after ${fmt(pg.at)} (${lag(pg.r.consistency)})`);
    print(
      `   ListCustomerOrders(min_position=${accepted.position}): ${redis.r.orders.length} order(s) of ${customerId}, this one ${OrderStatus[listed.status]}`,
    );
    print(`     visible in Redis after ${fmt(redis.at)} (${lag(redis.r.consistency)})`);
    timings.push({
      step: title,
      position: accepted.position,
      commandMs,
      visiblePostgresMs: pg.at,
      visibleRedisMs: redis.at,
    });
    return accepted;
  }

  const key = () => crypto.randomUUID();
  print(`Orderly guided tour: customer ${customerId}`);

  const a = await step(
    "CreateOrder: order A, 2 × book at 12.50 EUR + 1 × pen at 3.00 EUR",
    (idempotencyKey) =>
      commands.createOrder({
        idempotencyKey,
        customerId,
        currency: "EUR",
        items: [
          { sku: "book", quantity: 2, unitPriceMinor: 1250n },
          { sku: "pen", quantity: 1, unitPriceMinor: 300n },
        ],
      }),
    { status: OrderStatus.PLACED },
  );
  await step(
    "UpdatePaymentStatus: order A paid 28.00 EUR",
    (idempotencyKey) =>
      commands.updatePaymentStatus({
        idempotencyKey,
        orderId: a.orderId,
        status: PaymentStatus.PAID,
        amountMinor: 2800n,
        paymentReference: "demo-payment-1",
      }),
    { status: OrderStatus.PAID, paidMinor: 2800n },
  );
  await step(
    "ShipOrder: order A with carrier DHL",
    (idempotencyKey) =>
      commands.shipOrder({ idempotencyKey, orderId: a.orderId, carrier: "DHL", trackingNumber: "DEMO-0001" }),
    { status: OrderStatus.SHIPPED },
  );
  const b = await step(
    "CreateOrder: order B, 1 × mug at 8.00 EUR",
    (idempotencyKey) =>
      commands.createOrder({
        idempotencyKey,
        customerId,
        currency: "EUR",
        items: [{ sku: "mug", quantity: 1, unitPriceMinor: 800n }],
      }),
    { status: OrderStatus.PLACED },
  );

  // WaitForPosition streams both read models' progress towards a position that does not exist yet: the cancel's.
  const target = b.position + 1n;
  const streamLines: string[] = [];
  const abort = new AbortController();
  const streamed = (async () => {
    const started = performance.now();
    let messages = 0;
    for await (const update of queries.waitForPosition(
      { minPosition: target },
      { signal: abort.signal, timeoutMs: 10_000 },
    )) {
      messages++;
      streamLines.push(
        `   +${fmt(ms(started)).padStart(9)}  ${update.readModels.map((p) => `${p.readModel} ${p.position} (lag ${p.lagSeconds.toFixed(3)} s)`).join(" · ")}${update.reached ? "  reached" : ""}`,
      );
      if (update.reached) return messages;
    }
    throw new TourFindingError(`WaitForPosition(${target}) ended without reached = true`);
  })();
  const cancel = await step(
    "CancelOrder: order B, reason 'changed my mind'",
    (idempotencyKey) => commands.cancelOrder({ idempotencyKey, orderId: b.orderId, reason: "changed my mind" }),
    { status: OrderStatus.CANCELLED },
  );
  const messages = await streamed.finally(() => abort.abort());
  print(
    `\n${timings.length + 1}. WaitForPosition(min_position=${target}), opened before the cancel was sent: streamed`,
  );
  for (const line of streamLines) print(line);
  print(`   ${messages} message(s), the last one with reached = true (the cancel is at position ${cancel.position})`);

  print(
    "\nstep                                                               position  command  visible: Postgres   Redis",
  );
  for (const t of timings) {
    print(
      `${t.step.slice(0, 64).padEnd(66)} ${String(t.position).padStart(8)}  ${fmt(t.commandMs).padStart(8)}  ${fmt(t.visiblePostgresMs).padStart(17)}  ${fmt(t.visibleRedisMs).padStart(8)}`,
    );
  }
  print("\nNext:");
  print(
    "  pnpm loadtest --help                     the load generator (open/closed loop, HDR percentiles, SLO exit codes)",
  );
  print(`  ${options.loadtestExample.padEnd(40)} e.g. ten seconds of the command mix against this stack`);
  for (const m of options.metricsUrls) print(`  ${m.url.padEnd(40)} ${m.service} metrics (Prometheus)`);
  return timings;
}
