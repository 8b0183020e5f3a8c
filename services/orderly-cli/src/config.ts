import { ConfigError, problemCollector, readStackConfig, type StackConfig } from "@orderly/observability";
import { parseUnknownEventTypes, type UnknownEventTypes, unknownEventTypesModes } from "@orderly/projector";

/** What `pnpm orderly` reads from the environment, in `main` and nowhere else. */
export interface CliConfig {
  /** The same variables as the services (DATABASE_URL, NATS_URL, REDIS_URL, ORDERLY_NAMESPACE, …). */
  readonly stack: StackConfig;
  /**
   * What a rebuild (`rebuild`, and the rebuilds `recover` runs) does with an event type this release does not know,
   * read as the projector processes read it: PROJECTOR_UNKNOWN_EVENT_TYPES, `stop` (default) or `skip`.
   */
  readonly unknownEventTypes: UnknownEventTypes;
}

/** Reads and validates the CLI's configuration; throws one ConfigError listing every problem. */
export function readCliConfig(env: Record<string, string | undefined>): CliConfig {
  const problems: string[] = [];
  const stack = problemCollector(problems)<StackConfig | undefined>(() => readStackConfig(env), undefined);
  const unknownEventTypes = parseUnknownEventTypes(env.PROJECTOR_UNKNOWN_EVENT_TYPES);
  if (unknownEventTypes === undefined) {
    problems.push(
      `PROJECTOR_UNKNOWN_EVENT_TYPES must be one of ${unknownEventTypesModes.join(", ")} (got ${JSON.stringify(env.PROJECTOR_UNKNOWN_EVENT_TYPES)})`,
    );
  }
  if (stack === undefined || unknownEventTypes === undefined) throw new ConfigError(problems);
  return { stack, unknownEventTypes };
}
