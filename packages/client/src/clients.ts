import type { DescService } from "@bufbuild/protobuf";
import { type Client, createClient, type Interceptor, type Transport } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import { CommandService, QueryService } from "@orderly/contracts";
import { type IdempotencyTest, isIdempotent, type RetryPolicy, retryInterceptor } from "./retry.js";
import { traceparentInterceptor } from "./trace.js";

export interface OrderlyClientOptions {
  /** The service's address, e.g. `http://127.0.0.1:50051` (gRPC over HTTP/2 without TLS). */
  readonly baseUrl: string;
  /** Deadline of a call that sets none (default 5 s). */
  readonly timeoutMs?: number;
  /** Retry of UNAVAILABLE for idempotent calls (default on); `false` turns it off. */
  readonly retry?: RetryPolicy | false;
  /** Which calls are idempotent (default: queries, and commands with an idempotency key). */
  readonly isIdempotent?: IdempotencyTest;
  /** Where the outgoing `traceparent` comes from (default: `withTraceparent`). */
  readonly traceparent?: () => string | undefined;
  /** More interceptors, run outside the built-in ones. */
  readonly interceptors?: readonly Interceptor[];
  /** Use this transport instead of creating one (tests, or sharing one HTTP/2 session between clients). */
  readonly transport?: Transport;
}

export type CommandClient = Client<typeof CommandService>;
export type QueryClient = Client<typeof QueryService>;

/** A gRPC transport with Orderly's defaults: deadline, retry of idempotent calls, trace propagation. */
export function createOrderlyTransport(options: OrderlyClientOptions): Transport {
  const interceptors: Interceptor[] = [...(options.interceptors ?? [])];
  // The last interceptor runs first: retries wrap the trace header (set once per attempt, harmlessly).
  interceptors.push(traceparentInterceptor(options.traceparent));
  if (options.retry !== false) interceptors.push(retryInterceptor(options.retry, options.isIdempotent ?? isIdempotent));
  return createGrpcTransport({
    baseUrl: options.baseUrl,
    defaultTimeoutMs: options.timeoutMs ?? 5_000,
    interceptors,
  });
}

function typedClient<T extends DescService>(service: T, options: OrderlyClientOptions): Client<T> {
  return createClient(service, options.transport ?? createOrderlyTransport(options));
}

/** A typed CommandService client: `await client.createOrder({ idempotencyKey, customerId, ... })`. */
export function createCommandClient(options: OrderlyClientOptions): CommandClient {
  return typedClient(CommandService, options);
}

/** A typed QueryService client: `await client.getOrderSummary({ orderId, minPosition })`. */
export function createQueryClient(options: OrderlyClientOptions): QueryClient {
  return typedClient(QueryService, options);
}
