import { beforeEach, describe } from "vitest";
import type { EventStore } from "../event-store.js";
import { concurrencyContract } from "./contract-concurrency.js";
import { idempotencyContract } from "./contract-idempotency.js";
import { readingTheLogContract } from "./contract-reading.js";
import { streamsAndVersionsContract } from "./contract-streams.js";

export {
  type TestAppendOptions,
  testAppendRequest,
  testMetadata,
  testRequestHash,
  testUuid,
} from "./contract-fixtures.js";

/** Creates a store with no events in it; called before every test of the contract. */
export type EventStoreFactory = () => EventStore | Promise<EventStore>;

/**
 * The behaviour every EventStore must have (the in-memory and the Postgres store run the same suite). `makeStore`
 * is called before each test and must return an empty store.
 */
export function eventStoreContract(name: string, makeStore: EventStoreFactory): void {
  describe(`EventStore contract: ${name}`, () => {
    let store: EventStore;
    beforeEach(async () => {
      store = await makeStore();
    });

    streamsAndVersionsContract(() => store);
    readingTheLogContract(() => store);
    idempotencyContract(() => store);
    concurrencyContract(() => store);
  });
}
