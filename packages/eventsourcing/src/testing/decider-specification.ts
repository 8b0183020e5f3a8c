import type { Command } from "../command.js";
import type { Decider } from "../decider.js";
import type { Event } from "../event.js";

// biome-ignore lint/suspicious/noExplicitAny: an error class takes any constructor arguments
type ErrorClass<T extends Error> = abstract new (...args: any[]) => T;

/** Raised when a specification does not hold; test runners show its message. */
export class SpecificationError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "SpecificationError";
  }
}

export interface DeciderThen<E extends Event> {
  /**
   * Asserts the outcome: either exactly these events (deep equality, in order), or an error of this class,
   * optionally also matching `match` (a RegExp on the message, or a predicate).
   */
  then(expected: readonly E[]): void;
  then<T extends Error>(expected: ErrorClass<T>, match?: RegExp | ((error: T) => boolean)): void;
}

export interface DeciderSpecification<C extends Command, E extends Event> {
  given(events: readonly E[]): { when(command: C): DeciderThen<E> };
}

/**
 * Given/when/then for a decider: `given(history).when(command).then(events | ErrorClass)`. The history is folded with
 * `evolve` from `initialState`, then `decide` runs once. Pure: no test-runner dependency, it throws on a mismatch.
 */
export function deciderSpecification<C extends Command, E extends Event, S>(
  decider: Pick<Decider<C, E, S>, "initialState" | "decide" | "evolve">,
): DeciderSpecification<C, E> {
  return {
    given(history) {
      return {
        when(command) {
          const run = (): { events: readonly E[] } | { error: unknown } => {
            try {
              const state = history.reduce<S>(decider.evolve, decider.initialState());
              return { events: decider.decide(command, state) };
            } catch (error) {
              return { error };
            }
          };
          return {
            // biome-ignore lint/suspicious/noThenProperty: `given().when().then()` is the specification's vocabulary; never awaited
            then(expected: readonly E[] | ErrorClass<Error>, match?: RegExp | ((error: Error) => boolean)): void {
              const outcome = run();
              if (Array.isArray(expected)) {
                if ("error" in outcome) {
                  throw new SpecificationError(
                    `expected events ${show(expected)}, but ${command.type} failed with ${describeError(outcome.error)}`,
                  );
                }
                if (!deepEqual(outcome.events, expected)) {
                  throw new SpecificationError(
                    `${command.type}: expected events\n  ${show(expected)}\nbut got\n  ${show(outcome.events)}`,
                  );
                }
                return;
              }
              const errorClass = expected as ErrorClass<Error>;
              if (!("error" in outcome)) {
                throw new SpecificationError(
                  `expected ${command.type} to fail with ${errorClass.name}, but it decided ${show(outcome.events)}`,
                );
              }
              if (!(outcome.error instanceof errorClass)) {
                throw new SpecificationError(
                  `expected ${command.type} to fail with ${errorClass.name}, but it failed with ${describeError(outcome.error)}`,
                );
              }
              const error = outcome.error;
              const matches =
                match === undefined || (match instanceof RegExp ? match.test(error.message) : match(error));
              if (!matches) {
                throw new SpecificationError(
                  `${command.type} failed with ${describeError(error)}, which does not match ${String(match)}`,
                );
              }
            },
          } as DeciderThen<E>;
        },
      };
    },
  };
}

function describeError(error: unknown): string {
  return error instanceof Error ? `${error.name}: ${error.message}` : String(error);
}

function show(value: unknown): string {
  return JSON.stringify(value);
}

/** Structural equality of JSON-like values (plus Dates); key order does not matter. */
export function deepEqual(a: unknown, b: unknown): boolean {
  if (Object.is(a, b)) return true;
  if (typeof a !== "object" || typeof b !== "object" || a === null || b === null) return false;
  if (a instanceof Date || b instanceof Date) {
    return a instanceof Date && b instanceof Date && a.getTime() === b.getTime();
  }
  if (Array.isArray(a) !== Array.isArray(b)) return false;
  if (Array.isArray(a) && Array.isArray(b)) {
    return a.length === b.length && a.every((item, i) => deepEqual(item, b[i]));
  }
  const recordA = a as Record<string, unknown>;
  const recordB = b as Record<string, unknown>;
  const keysA = Object.keys(recordA).filter((k) => recordA[k] !== undefined);
  const keysB = Object.keys(recordB).filter((k) => recordB[k] !== undefined);
  return keysA.length === keysB.length && keysA.every((key) => deepEqual(recordA[key], recordB[key]));
}
