import { Counter, Gauge, type Registry } from "prom-client";
import type { EventsObserver, Subscriber } from "./events.js";

/** The EventService's metrics: subscribers now, events sent, and each subscriber's lag behind the store's head. */
export class EventMetrics implements EventsObserver {
  readonly #sent: Counter;

  constructor(registry: Registry, live: { readonly subscribers: () => Subscriber[]; readonly head: () => number }) {
    const registers = [registry];
    this.#sent = new Counter({
      name: "event_subscription_events_sent_total",
      help: "Events handed to SubscribeEvents streams.",
      registers,
    });
    new Gauge({
      name: "event_subscribers",
      help: "SubscribeEvents streams open right now.",
      registers,
      collect() {
        this.set(live.subscribers().length);
      },
    });
    new Gauge({
      name: "event_subscriber_lag_events",
      help: "Per open subscription: events between the store's head and the last event sent to it.",
      labelNames: ["subscriber"],
      registers,
      collect() {
        // Only open subscriptions: a closed one's series leaves with it.
        this.reset();
        const head = live.head();
        for (const s of live.subscribers()) this.set({ subscriber: s.id }, Math.max(0, head - s.position));
      },
    });
  }

  sent(count: number): void {
    this.#sent.inc(count);
  }
}
