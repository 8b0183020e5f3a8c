import { Upcasters } from "@orderly/eventsourcing";

/**
 * Every upcaster of order events, in one place (docs/events.md). When an event's payload changes in a way older
 * readers cannot take as it is (a field renamed, split, its meaning changed) its type moves to the next schema
 * version: register the step from the previous version here, e.g.
 *
 *   .register("OrderShipped", 1, (v1) => ({ ...v1, trackingUrl: "" }))
 *
 * New events are then written at the new version, and the store's read paths (the event store, the EventService's
 * log, the relay) hand every older payload on as the current one. Today every order event is at version 1.
 */
export const orderEventUpcasters: Upcasters = new Upcasters();
