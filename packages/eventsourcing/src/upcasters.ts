/**
 * Schema evolution of stored events (docs/events.md). A payload written at version N of its type's schema is read as
 * the current version through upcasters, one per step (N → N+1), registered in one place (for orders:
 * `orderEventUpcasters` in orders-domain) and applied by the event store's read path, so that deciders, projections
 * and consumers only ever see current payloads. Pure: no I/O.
 */
export type Upcaster = (data: unknown) => unknown;

export class UpcasterError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "UpcasterError";
  }
}

export class Upcasters {
  readonly #steps = new Map<string, Map<number, Upcaster>>();

  /** Registers the step from `fromVersion` to `fromVersion + 1` of `type`; steps must start at 1 with no holes. */
  register(type: string, fromVersion: number, upcast: Upcaster): this {
    if (!Number.isInteger(fromVersion) || fromVersion < 1)
      throw new UpcasterError(`${type}: fromVersion must be an integer >= 1, got ${fromVersion}`);
    let steps = this.#steps.get(type);
    if (steps === undefined) {
      steps = new Map();
      this.#steps.set(type, steps);
    }
    if (steps.has(fromVersion)) throw new UpcasterError(`${type}: an upcaster from version ${fromVersion} exists`);
    if (fromVersion > 1 && !steps.has(fromVersion - 1))
      throw new UpcasterError(`${type}: register the upcaster from version ${fromVersion - 1} first`);
    steps.set(fromVersion, upcast);
    return this;
  }

  /** The version new events of `type` are written at: 1 + the number of steps registered. */
  currentVersion(type: string): number {
    return 1 + (this.#steps.get(type)?.size ?? 0);
  }

  /** Whether a payload of `type` at `version` needs upcasting (cheap: the read path asks for every event). */
  needsUpcast(type: string, version: number): boolean {
    const steps = this.#steps.get(type);
    return steps !== undefined && version <= steps.size;
  }

  /**
   * The payload at the current version. A version above the current one (written by a newer release) is returned as
   * it is: its reader is older than its writer, and additive-only changes keep it readable.
   */
  upcast(type: string, version: number, data: unknown): { version: number; data: unknown } {
    const steps = this.#steps.get(type);
    if (steps === undefined) return { version, data };
    let v = version;
    let d = data;
    for (let step = steps.get(v); step !== undefined; step = steps.get(v)) {
      d = step(d);
      v++;
    }
    return { version: v, data: d };
  }
}

/** No upcasters: every type at version 1. */
export const noUpcasters: Upcasters = new Upcasters();
