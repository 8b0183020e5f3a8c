import { type Client, createClient } from "@connectrpc/connect";
import {
  type CommandAccepted,
  CommandService,
  type EventEnvelope,
  EventService,
  QueryService,
  type WaitForPositionResponse,
} from "@orderly/contracts";
import { type CommandClient, createOrderlyTransport, type OrderlyClientOptions, type QueryClient } from "./clients.js";

export type EventClient = Client<typeof EventService>;

export interface OrderlySessionOptions {
  /** The command service (`http://127.0.0.1:50051`), or options with its baseUrl. */
  readonly command: string | OrderlyClientOptions;
  /** The query service, which also serves EventService (`http://127.0.0.1:50052`). */
  readonly query: string | OrderlyClientOptions;
}

export interface SubscribeOptions {
  /** Events after this position (the last one you handled); 0 from the start. */
  readonly fromPosition?: bigint | number;
  /** Only these types (all when empty). */
  readonly eventTypes?: readonly string[];
  /** Ends the subscription. */
  readonly signal?: AbortSignal;
}

/**
 * A SubscribeEvents stream as an async iterator of envelopes, in position order. Events whose type these stubs do not
 * know (the `event` case is empty) are skipped and counted; `position` moves past them too, so it is always the
 * checkpoint to save.
 */
export class EventSubscription implements AsyncIterable<EventEnvelope> {
  #position: bigint;
  #skippedUnknown = 0;

  constructor(
    private readonly events: EventClient,
    private readonly options: SubscribeOptions,
  ) {
    this.#position = BigInt(options.fromPosition ?? 0);
  }

  /** The position of the last event received (handed out or skipped): resubscribe from it to continue exactly. */
  get position(): bigint {
    return this.#position;
  }

  /** Events of types these stubs do not know, skipped. */
  get skippedUnknown(): number {
    return this.#skippedUnknown;
  }

  async *[Symbol.asyncIterator](): AsyncIterator<EventEnvelope> {
    const stream = this.events.subscribeEvents(
      { fromPosition: this.#position, eventTypes: [...(this.options.eventTypes ?? [])] },
      // A subscription lives until it is cancelled: no default deadline.
      { timeoutMs: 0, ...(this.options.signal ? { signal: this.options.signal } : {}) },
    );
    for await (const response of stream) {
      const event = response.event;
      if (event === undefined) continue;
      this.#position = event.position;
      if (event.event.case === undefined) {
        this.#skippedUnknown++;
        continue;
      }
      yield event;
    }
  }
}

/**
 * Read-your-writes without bookkeeping: a session remembers the highest `CommandAccepted.position` of the commands sent
 * through it and sends it as `min_position` on its queries (unless a query asks for more), so each query sees the
 * session's own writes. Plus async-iterator helpers for WaitForPosition and SubscribeEvents. One session per user or
 * request flow; sharing one across unrelated users makes them wait for each other's writes.
 */
export class OrderlySession {
  readonly commands: CommandClient;
  readonly queries: QueryClient;
  readonly events: EventClient;
  #position = 0n;

  constructor(clients: { command: CommandClient; query: QueryClient; events: EventClient }) {
    this.events = clients.events;
    this.commands = this.#recording(clients.command);
    this.queries = this.#reading(clients.query);
  }

  /** The highest position this session has written (or was told about with `observe`). */
  get position(): bigint {
    return this.#position;
  }

  /** Makes later queries of this session wait for `position` too (e.g. a position handed over from another flow). */
  observe(position: bigint | number): void {
    const p = BigInt(position);
    if (p > this.#position) this.#position = p;
  }

  /**
   * WaitForPosition as an async iterator: progress messages until every read model has reached `minPosition` (by
   * default the session's position); the last one has `reached = true`.
   */
  async *waitForPosition(
    options: { minPosition?: bigint | number; readModels?: readonly string[]; signal?: AbortSignal } = {},
  ): AsyncGenerator<WaitForPositionResponse> {
    const minPosition = options.minPosition === undefined ? this.#position : BigInt(options.minPosition);
    yield* this.queries.waitForPosition(
      { minPosition, readModels: [...(options.readModels ?? [])] },
      { timeoutMs: 0, ...(options.signal ? { signal: options.signal } : {}) },
    );
  }

  /** SubscribeEvents as an async iterator (see EventSubscription). */
  subscribeEvents(options: SubscribeOptions = {}): EventSubscription {
    return new EventSubscription(this.events, options);
  }

  #recording(client: CommandClient): CommandClient {
    return wrapMethods(client, (method) => async (...args: unknown[]) => {
      const response = (await method(...args)) as { accepted?: CommandAccepted };
      if (response?.accepted) this.observe(response.accepted.position);
      return response;
    });
  }

  #reading(client: QueryClient): QueryClient {
    return wrapMethods(client, (method) => (request: { minPosition?: bigint } | undefined, ...rest: unknown[]) => {
      const asked = request?.minPosition ?? 0n;
      const minPosition = asked > this.position ? asked : this.position;
      return method({ ...request, minPosition }, ...rest);
    });
  }
}

/** `client` with each of its methods replaced by what `wrap` makes of it (`method` runs on `client`). */
function wrapMethods<C extends object>(client: C, wrap: (method: (...args: unknown[]) => unknown) => unknown): C {
  return new Proxy(client, {
    get(target, property, receiver) {
      const method = Reflect.get(target, property, receiver);
      if (typeof method !== "function") return method;
      return wrap((...args: unknown[]) => method.apply(target, args));
    },
  });
}

/** A session over new clients of both services (one HTTP/2 connection each). */
export function createOrderlySession(options: OrderlySessionOptions): OrderlySession {
  const command = typeof options.command === "string" ? { baseUrl: options.command } : options.command;
  const query = typeof options.query === "string" ? { baseUrl: options.query } : options.query;
  const commandTransport = command.transport ?? createOrderlyTransport(command);
  const queryTransport = query.transport ?? createOrderlyTransport(query);
  return new OrderlySession({
    command: createClient(CommandService, commandTransport),
    query: createClient(QueryService, queryTransport),
    events: createClient(EventService, queryTransport),
  });
}
