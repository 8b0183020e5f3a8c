import type { Command } from "./command.js";
import type { Event } from "./event.js";

/**
 * A decider in the functional style: `decide` turns a command and the current state into new events or throws a
 * typed `DomainError`; `evolve` folds one event into the state. Both are pure.
 */
export interface Decider<C extends Command, E extends Event, S> {
  readonly initialState: () => S;
  readonly decide: (command: C, state: S) => readonly E[];
  readonly evolve: (state: S, event: E) => S;
}

export function fold<E extends Event, S>(
  decider: Pick<Decider<never, E, S>, "initialState" | "evolve">,
  events: Iterable<E>,
): S {
  let state = decider.initialState();
  for (const event of events) state = decider.evolve(state, event);
  return state;
}
