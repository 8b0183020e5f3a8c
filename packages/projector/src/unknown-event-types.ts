import { Counter, type Registry } from "prom-client";
import { type Logger, silentLogger } from "./projection.js";

/**
 * What a projection does with an event type its code does not know (one a newer release wrote, docs/events.md):
 * - `stop` (the default): the handler refuses it, the projector stops there as at any poison event (unready, metric,
 *   one error line) until code that knows the type runs;
 * - `skip`: the event is passed over as if it changed nothing but the stream's version, the checkpoint moves past it,
 *   readiness is unaffected; every skip is counted by type and each type is logged once.
 */
export type UnknownEventTypes = "stop" | "skip";

export const unknownEventTypesModes: readonly UnknownEventTypes[] = ["stop", "skip"];

/** Parses `PROJECTOR_UNKNOWN_EVENT_TYPES` (unset or empty: `stop`); undefined for anything else. */
export function parseUnknownEventTypes(value: string | undefined): UnknownEventTypes | undefined {
  if (value === undefined || value === "") return "stop";
  return (unknownEventTypesModes as readonly string[]).includes(value) ? (value as UnknownEventTypes) : undefined;
}

/** What a skipped event tells the policy. */
export interface UnknownEvent {
  readonly type: string;
  readonly position: number;
  readonly streamId: string;
}

/** Asked by a projection's handler when it meets a type it does not know. */
export interface UnknownEventPolicy {
  readonly mode: UnknownEventTypes;
  /** Records a skip (only called in `skip` mode). */
  skipped(event: UnknownEvent): void;
}

/** Today's behaviour: stop at it. */
export const stopAtUnknownTypes: UnknownEventPolicy = { mode: "stop", skipped() {} };

const metricName = "projector_unknown_events_skipped_total";

/**
 * The policy a projector process configures: in `skip` mode, `projector_unknown_events_skipped_total{projection,type}`
 * counts the skips and the first event of each type is logged (one warn line per type and process).
 */
export function unknownEventPolicy(
  mode: UnknownEventTypes,
  options: { readonly projection: string; readonly registry?: Registry; readonly logger?: Logger },
): UnknownEventPolicy {
  if (mode === "stop") return stopAtUnknownTypes;
  const registry = options.registry;
  const counter =
    (registry?.getSingleMetric(metricName) as Counter<"projection" | "type"> | undefined) ??
    new Counter({
      name: metricName,
      help: "Events of a type this projector's code does not know, skipped (PROJECTOR_UNKNOWN_EVENT_TYPES=skip)",
      labelNames: ["projection", "type"] as const,
      registers: registry ? [registry] : [],
    });
  const log = options.logger ?? silentLogger;
  const logged = new Set<string>();
  return {
    mode,
    skipped(event) {
      counter.inc({ projection: options.projection, type: event.type });
      if (logged.has(event.type)) return;
      logged.add(event.type);
      log.warn(
        { projection: options.projection, type: event.type, position: event.position, stream: event.streamId },
        "skipping events of a type this projector does not know (PROJECTOR_UNKNOWN_EVENT_TYPES=skip; counted in projector_unknown_events_skipped_total)",
      );
    },
  };
}
