import { readOrdersStreamStatus } from "@orderly/event-bus";
import { eventIdsAt, readStoreStatus, type StoreStatus } from "@orderly/event-store-postgres";
import {
  CUSTOMER_ORDERS,
  ORDER_SUMMARIES,
  type ReadModelMark,
  readCustomerOrdersPartitionMarks,
  readOrderSummariesPartitionMarks,
} from "@orderly/order-read-models";
import { type CliCommand, EXIT_FINDING, EXIT_OK } from "./command.js";
import type { CliContext } from "./context.js";

/**
 * - `ok`: at or behind the store, on the store's own event (lag = store head − position);
 * - `ahead`: past the store's head (the store went back);
 * - `mismatch`: the store holds another event at that position;
 * - `down`: could not be read.
 */
export type ComponentState = "ok" | "ahead" | "mismatch" | "down";

export interface ComponentStatus {
  readonly component: string;
  readonly state: ComponentState;
  readonly position?: number;
  readonly eventId?: string;
  readonly lag?: number;
  readonly detail?: string;
  /**
   * A partitioned read model (ADR 0019, more than one partition): every partition's checkpoint, checked as a component
   * is. The component's position is then the lowest of them (the read model's position) and its state the first
   * partition's that is not `ok`.
   */
  readonly partitions?: readonly PartitionStatus[];
}

/** One partition's checkpoint of a partitioned read model. */
export interface PartitionStatus {
  readonly partition: number;
  readonly state: ComponentState;
  readonly position: number;
  readonly eventId?: string;
  readonly lag?: number;
  readonly detail?: string;
}

export interface StatusReport {
  readonly namespace: string;
  readonly store: StoreStatus;
  readonly components: readonly ComponentStatus[];
  /** One line per component that is not `ok`. */
  readonly findings: readonly string[];
}

/** A component's mark (position, and the event id where it records one). */
interface Mark {
  readonly component: string;
  readonly position: number;
  readonly eventId?: string | undefined;
  readonly detail?: string;
}

export const statusCommand: CliCommand = {
  name: "status",
  description:
    "every component's position, lag and store identity at a glance (exit 1 when one is ahead, differs or is down)",
  async run(context) {
    const report = await readStatus(context);
    return {
      exitCode: report.findings.length === 0 ? EXIT_OK : EXIT_FINDING,
      json: report,
      text: formatStatus(report),
    };
  },
};

/** Reads every component's position and checks each against the store (the store must be reachable: exit 2 if not). */
export async function readStatus(context: CliContext): Promise<StatusReport> {
  const pool = await context.pool();
  const store = await readStoreStatus(pool);
  const { namespace } = context.stack;

  const marks: (Mark | ComponentStatus)[] = [];
  for (const row of store.relayCheckpoints) {
    marks.push({ component: `relay checkpoint (${row.name})`, position: row.position, eventId: row.eventId });
  }
  const down = (component: string, error: unknown): ComponentStatus => ({
    component,
    state: "down",
    detail: (error as Error).message,
  });

  const [stream, summaries, customerOrders] = await Promise.all([
    context
      .jsm()
      .then((jsm) => readOrdersStreamStatus(jsm, namespace))
      .catch((error: unknown) => error as Error),
    readOrderSummariesPartitionMarks(pool).catch((error: unknown) => error as Error),
    context
      .redis()
      .then((redis) => readCustomerOrdersPartitionMarks(redis, namespace))
      .catch((error: unknown) => error as Error),
  ]);

  if (stream instanceof Error) marks.push(down("stream", stream));
  else if (!stream.exists) marks.push({ component: `stream ${stream.stream}`, position: 0, detail: "does not exist" });
  else {
    marks.push({
      component: `stream ${stream.stream}`,
      position: stream.tail?.position ?? 0,
      eventId: stream.tail?.eventId,
      detail: `seq ${stream.firstSeq}-${stream.lastSeq}, ${stream.messages} messages`,
    });
    for (const consumer of stream.consumers) {
      marks.push({
        component: `consumer ${consumer.name}`,
        state: "ok",
        detail: `${consumer.pending} pending, ${consumer.ackPending} unacknowledged, ack floor seq ${consumer.ackFloor}`,
      });
    }
  }
  const readModels: [string, ReadModelMark[] | Error][] = [
    [`read model ${ORDER_SUMMARIES} (Postgres)`, summaries],
    [`read model ${CUSTOMER_ORDERS} (Redis)`, customerOrders],
  ];
  const positions = [...marks, ...readModels.flatMap(([, m]) => (m instanceof Error ? [] : m))].flatMap((m) =>
    "position" in m && m.position !== undefined ? [m.position] : [],
  );
  const storeIds = await eventIdsAt(pool, positions);
  const checkReadModelMark = (component: string, mark: ReadModelMark): ComponentStatus => {
    if (mark.storeId !== undefined && store.storeId !== undefined && mark.storeId !== store.storeId) {
      return {
        component,
        state: "mismatch",
        position: mark.position,
        detail: `checkpoint taken from store ${mark.storeId}, this store is ${store.storeId} (pnpm orderly recover)`,
      };
    }
    return checkMark({ component, position: mark.position, eventId: mark.eventId }, store, storeIds);
  };
  const readModel = (component: string, partitionMarks: ReadModelMark[] | Error): ComponentStatus => {
    if (partitionMarks instanceof Error) return down(component, partitionMarks);
    const checked = partitionMarks.map((m) => checkReadModelMark(component, m));
    if (checked.length === 1) return checked[0] as ComponentStatus;
    // Partitioned: the read model stands where its lowest partition does; a partition that is not ok makes it not ok.
    let lowest = 0;
    checked.forEach((c, i) => {
      if ((c.position ?? 0) < ((checked[lowest] as ComponentStatus).position ?? 0)) lowest = i;
    });
    const partitions: PartitionStatus[] = checked.map((c, partition) => ({
      partition,
      state: c.state,
      position: c.position ?? 0,
      ...(c.eventId ? { eventId: c.eventId } : {}),
      ...(c.lag !== undefined ? { lag: c.lag } : {}),
      ...(c.detail ? { detail: c.detail } : {}),
    }));
    const bad = partitions.find((p) => p.state !== "ok");
    const furthest = Math.max(...partitions.map((p) => p.position));
    const base = checked[lowest] as ComponentStatus;
    return {
      ...base,
      state: bad?.state ?? "ok",
      detail: bad
        ? `partition ${bad.partition} of ${partitions.length}: ${bad.detail ?? bad.state}`
        : `${partitions.length} partitions, the lowest (${lowest}) at ${base.position}, the furthest at ${furthest}`,
      partitions,
    };
  };

  const components = [
    ...marks.map((m) => ("state" in m ? m : checkMark(m, store, storeIds))),
    ...readModels.map(([component, m]) => readModel(component, m)),
  ];
  const findings = components.flatMap((c) => {
    if (c.partitions) {
      return c.partitions
        .filter((p) => p.state !== "ok")
        .map((p) => `${c.component} partition ${p.partition}: ${p.state}${p.detail ? ` (${p.detail})` : ""}`);
    }
    return c.state === "ok" ? [] : [`${c.component}: ${c.state}${c.detail ? ` (${c.detail})` : ""}`];
  });
  return { namespace, store, components, findings };
}

function checkMark(mark: Mark, store: StoreStatus, storeIds: ReadonlyMap<number, string>): ComponentStatus {
  const base = {
    component: mark.component,
    position: mark.position,
    ...(mark.eventId ? { eventId: mark.eventId } : {}),
    lag: Math.max(0, store.lastEventPosition - mark.position),
  };
  if (mark.position > store.head) {
    return {
      ...base,
      state: "ahead",
      detail: `at ${mark.position}, the store's head is ${store.head}: the store went back (pnpm orderly recover)`,
    };
  }
  const held = storeIds.get(mark.position);
  const retired = store.retired.some((r) => mark.position >= r.first && mark.position <= r.last);
  if (mark.eventId && mark.position > 0 && held !== mark.eventId && !(retired && held === undefined)) {
    return {
      ...base,
      state: "mismatch",
      detail: `stands on event ${mark.eventId} at ${mark.position}, the store holds ${held ?? "nothing"} there (pnpm orderly recover)`,
    };
  }
  return { ...base, state: "ok", ...(mark.detail ? { detail: mark.detail } : {}) };
}

export function formatStatus(report: StatusReport): string {
  const { store } = report;
  const lines = [
    `namespace ${report.namespace}`,
    `store     head ${store.head}${store.lastEventPosition !== store.head ? ` (last event at ${store.lastEventPosition})` : ""}, store id ${store.storeId ?? "(none: schema before 0006)"}`,
  ];
  for (const r of store.retired) {
    lines.push(`          retired positions ${r.first}-${r.last} (${r.reason}, ${r.retiredAt.toISOString()})`);
  }
  const width = Math.max(...report.components.map((c) => c.component.length));
  for (const c of report.components) {
    const position = c.position === undefined ? "" : `at ${c.position}`;
    const lag = c.lag === undefined ? "" : `lag ${c.lag}`;
    lines.push(
      `${c.component.padEnd(width)}  ${c.state.padEnd(8)} ${position.padEnd(14)} ${lag.padEnd(12)} ${c.detail ?? ""}`.trimEnd(),
    );
    for (const p of c.partitions ?? []) {
      const name = `  partition ${p.partition}`;
      const at = `at ${p.position}`;
      const behind = p.lag === undefined ? "" : `lag ${p.lag}`;
      lines.push(
        `${name.padEnd(width)}  ${p.state.padEnd(8)} ${at.padEnd(14)} ${behind.padEnd(12)} ${p.detail ?? ""}`.trimEnd(),
      );
    }
  }
  lines.push(
    report.findings.length === 0 ? "all components agree with the store" : `${report.findings.length} finding(s)`,
  );
  return lines.join("\n");
}
