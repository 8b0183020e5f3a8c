import type { Logger } from "@orderly/observability";

const CLEANUP_TIMEOUT_MS = 2_000;

/**
 * What a start-up opened, closed in reverse order. Each step is bounded: ending a pool whose server went silent waits
 * for a goodbye that never comes, and a close must not hang on it.
 */
export class Cleanups {
  readonly #steps: (() => Promise<void> | void)[] = [];

  constructor(private readonly logger: Logger) {}

  push(step: () => Promise<void> | void): void {
    this.#steps.push(step);
  }

  async closeAll(): Promise<void> {
    for (const step of this.#steps.splice(0).reverse()) {
      let timer: ReturnType<typeof setTimeout> | undefined;
      try {
        const outcome = await Promise.race([
          Promise.resolve(step()).then(() => "closed" as const),
          new Promise<"timed out">((resolve) => {
            timer = setTimeout(() => resolve("timed out"), CLEANUP_TIMEOUT_MS);
          }),
        ]);
        if (outcome === "timed out") {
          this.logger.warn(`a connection did not close within ${CLEANUP_TIMEOUT_MS} ms; left it`);
        }
      } catch (error) {
        this.logger.warn({ err: error }, "error while closing");
      } finally {
        clearTimeout(timer);
      }
    }
  }
}
