import type { DescService } from "@bufbuild/protobuf";
import { type Client, createClient, type Interceptor, type Transport } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import { CommandService, QueryService } from "@orderly/contracts";
import { bearerTokenInterceptor, type OrderlyClientTls, type TokenProvider } from "./auth.js";
import { type IdempotencyTest, isIdempotent, type RetryPolicy, retryInterceptor } from "./retry.js";
import { traceparentInterceptor } from "./trace.js";

export interface OrderlyClientOptions {
  /** The service's address: `http://127.0.0.1:50051` (plaintext) or `https://orders.internal:50051` (TLS). */
  readonly baseUrl: string;
  /** TLS settings (CA, client certificate for mTLS); needs an `https://` baseUrl. */
  readonly tls?: OrderlyClientTls;
  /** The bearer token of each call (asked per call, so it may be refreshed). */
  readonly token?: TokenProvider;
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
  // The first interceptor is the outermost: the token's, last, runs inside the retry, once per attempt.
  if (options.token) interceptors.push(bearerTokenInterceptor(options.token));
  const tls = options.tls;
  if (tls && !options.baseUrl.startsWith("https://")) {
    throw new Error(`TLS options need an https:// baseUrl (got ${options.baseUrl})`);
  }
  return createGrpcTransport({
    baseUrl: options.baseUrl,
    ...(tls ? { nodeOptions: { ca: tls.ca, cert: tls.cert, key: tls.key, servername: tls.serverName } } : {}),
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
