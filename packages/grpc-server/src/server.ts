import { type EventEmitter, once } from "node:events";
import {
  create,
  type DescMessage,
  type DescMethod,
  type MessageInitShape,
  type MessageShape,
  toBinary,
} from "@bufbuild/protobuf";
import type { GenService, GenServiceMethods } from "@bufbuild/protobuf/codegenv2";
import {
  type ChannelOptions,
  Metadata,
  Server,
  ServerCredentials,
  type ServerUnaryCall,
  type ServerWritableStream,
  status as Status,
  type sendUnaryData,
} from "@grpc/grpc-js";
import { ROOT_CONTEXT, type Span, SpanKind, SpanStatusCode, type Tracer, trace } from "@opentelemetry/api";
import { ResourceExhaustedError } from "@orderly/eventsourcing";
import { type FramedWriter, framedWriter, frameMessages } from "@orderly/library-internals/grpc-js";
import type { Logger } from "pino";
import { Registry } from "prom-client";
import { JwtAuthenticator, type JwtAuthOptions, type Principal } from "./auth.js";
import { EncodedBatch, EncodedMessage, grpcServiceDefinition, methodPath, UndecodableRequest } from "./binding.js";
import { HealthState } from "./health.js";
import { type GrpcMetrics, grpcMetrics } from "./metrics.js";
import {
  type CallerLimitOptions,
  CallerRateLimiter,
  callerKey,
  RateLimitedError,
  StreamCounter,
} from "./rate-limit.js";
import { addReflection } from "./reflection.js";
import { statusName, toGrpcStatus } from "./status.js";
import { ServerTls, type ServerTlsOptions } from "./tls.js";

/** What a handler knows about its call besides the request. */
export interface CallContext {
  /** Aborts when the client cancels, the deadline passes, or the server shuts down (streams). */
  readonly signal: AbortSignal;
  /**
   * Whether `signal` has aborted, or would have: the client cancelled or the deadline passed. Cheaper than `signal`
   * for a handler that only needs to ask (the signal and its listener are made on first use).
   */
  readonly aborted: boolean;
  /**
   * Epoch ms: the client's grpc-timeout, or the server's cap (`maxDeadlineMs`) when that is earlier or the client set
   * none; undefined only on server streams without a client deadline.
   */
  readonly deadline: number | undefined;
  /** Request metadata (text values only; keys lower-case), e.g. `traceparent`. */
  readonly headers: Record<string, string>;
  /** `orderly.orders.v1.CommandService/CreateOrder`. */
  readonly method: string;
  readonly peer: string;
  /** The verified caller when auth is on (set before the handler runs); undefined when it is off. */
  readonly principal: Principal | undefined;
  /** Under mTLS, the subject of the client's certificate (e.g. `CN=svc-checkout`); undefined otherwise. */
  readonly clientCertificateSubject: string | undefined;
  /**
   * With tracing on, the W3C `traceparent` of the call's SERVER span: what the handler's own spans and the events it
   * writes continue from. Undefined when tracing is off.
   */
  readonly traceparent?: string | undefined;
}

type Init<O extends DescMessage> = MessageInitShape<O>;
export type UnaryHandler<I extends DescMessage, O extends DescMessage> = (
  request: MessageShape<I>,
  ctx: CallContext,
) => Promise<Init<O> | EncodedMessage> | Init<O> | EncodedMessage;
export type ServerStreamingHandler<I extends DescMessage, O extends DescMessage> = (
  request: MessageShape<I>,
  ctx: CallContext,
) => AsyncIterable<Init<O> | EncodedMessage | EncodedBatch>;

/** One handler per method of a protobuf-es service, typed from its generated descriptor. */
export type ServiceImplementation<T extends GenServiceMethods> = {
  [K in keyof T]: T[K] extends {
    methodKind: "unary";
    input: infer I extends DescMessage;
    output: infer O extends DescMessage;
  }
    ? UnaryHandler<I, O>
    : T[K] extends {
          methodKind: "server_streaming";
          input: infer I extends DescMessage;
          output: infer O extends DescMessage;
        }
      ? ServerStreamingHandler<I, O>
      : never;
};

export interface GrpcServerOptions {
  /** The process name (logs). */
  readonly name: string;
  readonly logger: Logger;
  /** Where the grpc_server_* metrics go (default: a private registry). */
  readonly registry?: Registry;
  /** Largest request accepted, in bytes (default 1 MiB; larger gets RESOURCE_EXHAUSTED). */
  readonly maxReceiveMessageBytes?: number;
  /** Serve grpc.reflection.v1 and v1alpha (default true). */
  readonly reflection?: boolean;
  /** Directory holding the repo's `.proto` files, for reflection (default: found, see findProtoDir). */
  readonly protoDir?: string;
  /** Extra grpc-js server options. */
  readonly channelOptions?: ChannelOptions;
  /** Serve TLS (and with a client CA, mTLS) instead of plaintext; plaintext connections are then refused. */
  readonly tls?: ServerTlsOptions | undefined;
  /**
   * Require a JWT bearer token on every call of the added services (and reflection); health stays open. The scope
   * each service needs is given to addService.
   */
  readonly auth?: JwtAuthOptions | undefined;
  /**
   * Per-caller limits (the token's `sub` when auth is on, else the peer's address): calls per second with a burst
   * (RESOURCE_EXHAUSTED with a `retry-after-ms` trailer past it) and open server streams.
   */
  readonly limits?: CallerLimitOptions | undefined;
  /**
   * The longest a unary call may run, whatever deadline the client sent (default 30 s): a call without a deadline, or
   * with a longer one, ends with DEADLINE_EXCEEDED at this cap and its handler's signal aborts. Server streams are
   * bounded by their own timeouts and the per-caller stream cap instead (a subscription is meant to stay open).
   */
  readonly maxDeadlineMs?: number | undefined;
  /**
   * Records a SERVER span per call, in the trace of the caller's `traceparent` header (a new trace without one), and
   * runs the handler with it active. Undefined (tracing off): no span work at all.
   */
  readonly tracer?: Tracer | undefined;
}

/** The default server-side cap on a unary call's deadline. */
export const DEFAULT_MAX_DEADLINE_MS = 30_000;

export interface AddServiceOptions {
  /** The scope every method of the service requires when auth is on (e.g. `orders:write`). */
  readonly scope?: string | undefined;
  /**
   * Server streams only: how long the server waits for a client that does not read (HTTP/2 flow control: the server
   * stops producing while it waits) before it ends the stream with RESOURCE_EXHAUSTED. Default: no limit.
   */
  readonly stallTimeoutMs?: number | undefined;
}

/** Why a call's signal aborted; its status is what the call ends with. */
export class CallAbortedError extends Error {
  constructor(
    readonly status: Status,
    message: string,
  ) {
    super(message);
    this.name = "CallAbortedError";
  }
}

export const MAX_RECEIVE_MESSAGE_BYTES = 1024 * 1024;

/** Messages a server stream queues in grpc-js before the handler waits for the client (see serverStreaming). */
export const STREAM_QUEUE_MESSAGES = 256;
/** Bytes a server stream written in framed batches queues in its HTTP/2 stream before the handler waits. */
export const STREAM_QUEUE_BYTES = 256 * 1024;
const DEADLINE_TOLERANCE_MS = 100;

/**
 * A gRPC server (grpc-js) whose handlers take and return protobuf-es messages. Maps errors to status in one place,
 * answers INVALID_ARGUMENT to undecodable requests, serves grpc.health.v1 and reflection, records Prometheus metrics,
 * and stops gracefully.
 */
export class GrpcServer {
  private readonly server: Server;
  private readonly logger: Logger;
  private readonly metrics: GrpcMetrics;
  private readonly health = new HealthState();
  private readonly serviceNames: string[] = [];
  private readonly streams = new Set<GrpcCallContext>();
  private readonly tls: ServerTls | undefined;
  private readonly auth: JwtAuthenticator | undefined;
  private readonly maxDeadlineMs: number;
  private readonly limiter: CallerRateLimiter | undefined;
  private readonly openStreams: StreamCounter | undefined;
  private serving = true;
  private listening = false;
  private stopping: Promise<void> | undefined;

  constructor(private readonly options: GrpcServerOptions) {
    this.logger = options.logger;
    this.metrics = grpcMetrics(options.registry ?? new Registry());
    // Reads the certificate files now: a bad path or a mismatched key fails the start, not the first connection.
    this.tls = options.tls ? new ServerTls(options.tls, this.logger) : undefined;
    this.auth = options.auth
      ? new JwtAuthenticator({
          ...options.auth,
          onKeyReload: (problem) => {
            if (problem === undefined) this.logger.info("JWT public key file changed: the new key is in use");
            else this.logger.warn({ problem }, "JWT public key file changed but cannot be used");
            options.auth?.onKeyReload?.(problem);
          },
        })
      : undefined;
    this.maxDeadlineMs = options.maxDeadlineMs ?? DEFAULT_MAX_DEADLINE_MS;
    if (!(this.maxDeadlineMs >= 1)) throw new Error(`maxDeadlineMs must be >= 1, got ${this.maxDeadlineMs}`);
    const limits = options.limits;
    this.limiter =
      limits?.ratePerSecond !== undefined
        ? new CallerRateLimiter({ ...limits, ratePerSecond: limits.ratePerSecond })
        : undefined;
    this.openStreams =
      limits?.maxStreamsPerCaller !== undefined ? new StreamCounter(limits.maxStreamsPerCaller) : undefined;
    this.server = new Server({
      "grpc.max_receive_message_length": options.maxReceiveMessageBytes ?? MAX_RECEIVE_MESSAGE_BYTES,
      ...options.channelOptions,
    });
  }

  addService<T extends GenServiceMethods>(
    service: GenService<T>,
    implementation: ServiceImplementation<T>,
    options: AddServiceOptions = {},
  ): this {
    if (this.listening) throw new Error(`addService(${service.typeName}) after listen()`);
    const definition = grpcServiceDefinition(service);
    const handlers: Record<string, unknown> = {};
    for (const method of service.methods) {
      const handler = (implementation as Record<string, unknown>)[method.localName];
      if (typeof handler !== "function") {
        throw new Error(
          `${service.typeName}: no handler for ${method.name} (expected a function named ${method.localName})`,
        );
      }
      handlers[method.localName] =
        method.methodKind === "unary"
          ? this.unary(method, handler as UnaryHandler<DescMessage, DescMessage>, options.scope)
          : this.serverStreaming(
              method,
              handler as ServerStreamingHandler<DescMessage, DescMessage>,
              options.scope,
              options.stallTimeoutMs,
            );
    }
    this.server.addService(definition, handlers as never);
    this.serviceNames.push(service.typeName);
    return this;
  }

  /** Binds and starts serving; returns the port (useful with 0). Health starts SERVING unless setServing(false). */
  async listen(port: number, host = "0.0.0.0"): Promise<number> {
    if (this.listening) throw new Error("listen() called twice");
    this.listening = true;
    this.health.addTo(this.server);
    if (this.options.reflection ?? true) {
      const auth = this.auth;
      const guard = auth && {
        admit: (metadata: Metadata) => auth.authorize(metadata.get("authorization"), undefined),
        refuse: (error: unknown) => {
          const mapped = toGrpcStatus(error);
          return { code: mapped.code, details: mapped.details };
        },
      };
      addReflection(this.server, [...this.serviceNames, "grpc.health.v1.Health"], this.options.protoDir, guard);
    }
    this.setServing(this.serving);
    const bound = await new Promise<number>((resolve, reject) => {
      const credentials = this.tls?.credentials ?? ServerCredentials.createInsecure();
      this.server.bindAsync(`${host}:${port}`, credentials, (error, actual) =>
        error ? reject(error) : resolve(actual),
      );
    });
    await this.tls?.ready();
    const transport = this.tls === undefined ? "plaintext" : this.tls.mutual ? "mtls" : "tls";
    const auth = this.auth === undefined ? "none" : "jwt";
    this.logger.info(
      { port: bound, host, transport, auth, services: this.serviceNames },
      `${this.options.name} gRPC listening`,
    );
    return bound;
  }

  /** grpc.health.v1 status of one added service, or (no name) of the server and every service. */
  setServing(serving: boolean, service?: string): void {
    const status = serving ? "SERVING" : "NOT_SERVING";
    if (service !== undefined) {
      if (!this.serviceNames.includes(service)) throw new Error(`setServing: ${service} was not added`);
      this.health.set(service, status);
      return;
    }
    if (this.serving !== serving) this.logger.info({ serving }, `health: ${status}`);
    this.serving = serving;
    for (const name of ["", ...this.serviceNames]) this.health.set(name, status);
  }

  /**
   * Health goes NOT_SERVING and Watch streams end; server streams are told UNAVAILABLE; unary calls in flight get
   * `graceMs` to finish, then the rest are cancelled.
   */
  shutdown(options: { graceMs?: number } = {}): Promise<void> {
    this.stopping ??= (async () => {
      const graceMs = options.graceMs ?? 10_000;
      this.setServing(false);
      this.health.endWatches();
      for (const ctx of this.streams) ctx.abort(new CallAbortedError(Status.UNAVAILABLE, "server is shutting down"));
      await new Promise<void>((resolve) => {
        const timer = setTimeout(() => {
          this.logger.warn({ graceMs }, "calls still running after the grace period; cancelling them");
          this.server.forceShutdown();
          resolve();
        }, graceMs);
        this.server.tryShutdown(() => {
          clearTimeout(timer);
          resolve();
        });
      });
      this.tls?.stop();
      this.auth?.close();
      this.logger.info(`${this.options.name} gRPC stopped`);
    })();
    return this.stopping;
  }

  private unary(method: DescMethod, handler: UnaryHandler<DescMessage, DescMessage>, scope: string | undefined) {
    const path = methodPath(method.parent, method).slice(1);
    return (call: ServerUnaryCall<unknown, unknown>, callback: sendUnaryData<unknown>) => {
      const track = this.track(method, "unary");
      const ctx = new GrpcCallContext(call, path, this.maxDeadlineMs);
      const span = this.startSpan(method, call, ctx);
      // The capped deadline may answer before the handler does: whichever comes second is dropped.
      let answered = false;
      const finish = (code: Status) => {
        ctx.release();
        track(code);
        if (span !== undefined) endSpan(span, code);
      };
      const fail = (error: unknown) => {
        if (answered) return;
        answered = true;
        const status = this.failure(error, ctx);
        callback(status);
        finish(status.code);
      };
      ctx.onCappedDeadline(fail);
      const start = () => {
        const limited = this.rateLimited(ctx);
        if (limited !== undefined) {
          fail(limited);
          return;
        }
        const request = call.request;
        if (request instanceof UndecodableRequest) {
          if (answered) return;
          answered = true;
          callback({ code: Status.INVALID_ARGUMENT, details: undecodable(request) });
          finish(Status.INVALID_ARGUMENT);
          return;
        }
        const succeed = (result: Init<DescMessage> | EncodedMessage) => {
          if (answered) return;
          answered = true;
          const aborted = ctx.abortReason();
          if (aborted !== undefined) {
            finish(aborted.status);
            return;
          }
          let reply: MessageShape<DescMessage> | EncodedMessage;
          try {
            reply = result instanceof EncodedMessage ? result : create(method.output, result);
          } catch (error) {
            fail(error);
            return;
          }
          callback(null, reply);
          finish(Status.OK);
        };
        let result: Promise<Init<DescMessage> | EncodedMessage> | Init<DescMessage> | EncodedMessage;
        try {
          result = handler(request as MessageShape<DescMessage>, ctx);
        } catch (error) {
          fail(error);
          return;
        }
        if (result instanceof Promise) result.then(succeed, fail);
        else succeed(result);
      };
      this.admit(call, ctx, scope, fail, start);
    };
  }

  /** The refusal when the caller has used up its calls per second, else undefined. */
  private rateLimited(ctx: GrpcCallContext): RateLimitedError | undefined {
    if (this.limiter === undefined) return undefined;
    const waitMs = this.limiter.take(callerKey(ctx.principal?.subject, ctx.peer));
    if (waitMs === 0) return undefined;
    return new RateLimitedError(`rate limit for this caller exceeded; retry in ${waitMs} ms`, waitMs);
  }

  /**
   * Runs `next` once the caller holds `scope` (at once when auth is off or the token was verified before), else
   * `fail`s the call with UNAUTHENTICATED or PERMISSION_DENIED.
   */
  private admit(
    call: ServerCall,
    ctx: GrpcCallContext,
    scope: string | undefined,
    fail: (error: unknown) => void,
    next: () => void,
  ): void {
    const auth = this.auth;
    if (auth === undefined) {
      next();
      return;
    }
    let principal: Principal | Promise<Principal>;
    try {
      principal = auth.authorize(call.metadata.get("authorization"), scope);
    } catch (error) {
      fail(error);
      return;
    }
    if (principal instanceof Promise) {
      void principal.then((verified) => {
        ctx.principal = verified;
        next();
      }, fail);
    } else {
      ctx.principal = principal;
      next();
    }
  }

  private serverStreaming(
    method: DescMethod,
    handler: ServerStreamingHandler<DescMessage, DescMessage>,
    scope: string | undefined,
    stallTimeoutMs: number | undefined,
  ) {
    const path = methodPath(method.parent, method).slice(1);
    return (call: ServerWritableStream<unknown, unknown>) => {
      const track = this.track(method, "server_stream");
      const ctx = new GrpcCallContext(call, path);
      const span = this.startSpan(method, call, ctx);
      this.streams.add(ctx);
      let counted: string | undefined;
      const finish = (code: Status) => {
        this.streams.delete(ctx);
        if (counted !== undefined) this.openStreams?.close(counted);
        ctx.release();
        track(code);
        if (span !== undefined) endSpan(span, code);
      };
      const request = call.request;
      const refuse = (error: unknown) => {
        const status = this.failure(error, ctx);
        call.emit("error", status);
        finish(status.code);
      };
      const labels = { grpc_service: method.parent.typeName, grpc_method: method.name, grpc_type: "server_stream" };
      const run = async () => {
        const limited = this.rateLimited(ctx);
        if (limited !== undefined) {
          refuse(limited);
          return;
        }
        if (this.openStreams !== undefined) {
          const key = callerKey(ctx.principal?.subject, ctx.peer);
          if (!this.openStreams.open(key)) {
            refuse(
              new ResourceExhaustedError(
                `too many open streams for this caller (at most ${this.openStreams.max}); close one first`,
              ),
            );
            return;
          }
          counted = key;
        }
        if (request instanceof UndecodableRequest) {
          call.emit("error", { code: Status.INVALID_ARGUMENT, details: undecodable(request) });
          finish(Status.INVALID_ARGUMENT);
          return;
        }
        const iterator = handler(request as MessageShape<DescMessage>, ctx)[Symbol.asyncIterator]();
        let framed: FramedWriter | null | undefined;
        try {
          for (;;) {
            const next = await untilAborted(iterator.next(), ctx.signal);
            if (next.done) break;
            const value = next.value;
            // grpc-js's stream says "full" at 16 queued messages (objectMode's default); waiting for the socket every 16
            // small messages caps a stream at a few thousand a second. Queue up to STREAM_QUEUE_MESSAGES, then wait:
            // still bounded (plus at most one batch), and a client that stops reading still stops the handler (HTTP/2
            // flow control).
            let sent = 1;
            if (value instanceof EncodedBatch) {
              const messages = value.messages;
              sent = messages.length;
              // A batch goes out as one HTTP/2 write of framed messages (@orderly/library-internals/grpc-js); from then on, so does
              // everything else of this call, to keep the order. Without the expected internals: message by message.
              if (framed === undefined && sent > 0) framed = framedWriter(call) ?? null;
              if (framed) {
                if (sent > 0 && !framed.write(frameMessages(messages)) && framed.queuedBytes >= STREAM_QUEUE_BYTES) {
                  await untilAborted(drained(framed.drainSource, stallTimeoutMs), ctx.signal);
                }
              } else {
                let full = false;
                for (let i = 0; i < sent; i++) full = !call.write(new EncodedMessage(messages[i] as Uint8Array));
                if (full && call.writableLength >= STREAM_QUEUE_MESSAGES) {
                  await untilAborted(drained(call, stallTimeoutMs), ctx.signal);
                }
              }
            } else if (framed) {
              const bytes =
                value instanceof EncodedMessage ? value.bytes : toBinary(method.output, create(method.output, value));
              if (!framed.write(frameMessages([bytes])) && framed.queuedBytes >= STREAM_QUEUE_BYTES) {
                await untilAborted(drained(framed.drainSource, stallTimeoutMs), ctx.signal);
              }
            } else if (
              !call.write(value instanceof EncodedMessage ? value : create(method.output, value)) &&
              call.writableLength >= STREAM_QUEUE_MESSAGES
            ) {
              await untilAborted(drained(call, stallTimeoutMs), ctx.signal);
            }
            if (sent > 0) this.metrics.messagesSent.inc(labels, sent);
          }
          if (ctx.signal.aborted) throw ctx.signal.reason;
          call.end();
          finish(Status.OK);
        } catch (error) {
          // Runs the generator's finally blocks; it may be parked in an await, so do not wait for it.
          iterator.return?.(undefined)?.catch(() => {});
          const status = this.failure(error, ctx);
          if (!call.cancelled) call.emit("error", status);
          finish(status.code);
        }
      };
      this.admit(call, ctx, scope, refuse, () => void run());
    };
  }

  /**
   * The call's SERVER span, a child of the caller's `traceparent`, its own traceparent put on the call's context;
   * undefined when tracing is off. Passed explicitly, not through an async context: AsyncLocalStorage would tax every
   * promise of the process, sampled or not.
   */
  private startSpan(method: DescMethod, call: ServerCall, ctx: GrpcCallContext): Span | undefined {
    const tracer = this.options.tracer;
    if (tracer === undefined) return undefined;
    const header = call.metadata.get("traceparent")[0];
    const parent = typeof header === "string" ? parentContext(header) : ROOT_CONTEXT;
    const span = tracer.startSpan(
      `${method.parent.typeName}/${method.name}`,
      {
        kind: SpanKind.SERVER,
        attributes: { "rpc.system": "grpc", "rpc.service": method.parent.typeName, "rpc.method": method.name },
      },
      parent,
    );
    const { traceId, spanId, traceFlags } = span.spanContext();
    ctx.traceparent = `00-${traceId}-${spanId}-${traceFlags & 1 ? "01" : "00"}`;
    return span;
  }

  /** The status for a failed call; logs server faults with their stack. */
  private failure(error: unknown, ctx: GrpcCallContext): { code: Status; details: string; metadata?: Metadata } {
    const aborted = ctx.abortReason();
    if (aborted !== undefined) return { code: aborted.status, details: aborted.message };
    const mapped = toGrpcStatus(error);
    if (mapped.internal) {
      this.logger.error({ err: error, method: ctx.method, caller: ctx.principal?.subject }, "handler failed");
      return { code: mapped.code, details: mapped.details };
    }
    this.logger.debug(
      { method: ctx.method, caller: ctx.principal?.subject, code: statusName(mapped.code), msg: mapped.details },
      "call rejected",
    );
    const metadata = new Metadata();
    if (mapped.errorCode) metadata.set("orderly-error-code", mapped.errorCode);
    if (error instanceof RateLimitedError) metadata.set("retry-after-ms", String(error.retryAfterMs));
    return { code: mapped.code, details: mapped.details, metadata };
  }

  private track(method: DescMethod, type: "unary" | "server_stream"): (code: Status) => void {
    const labels = { grpc_service: method.parent.typeName, grpc_method: method.name, grpc_type: type };
    const started = process.hrtime.bigint();
    this.metrics.started.inc(labels);
    this.metrics.inFlight.inc(labels);
    return (code) => {
      const seconds = Number(process.hrtime.bigint() - started) / 1e9;
      const withCode = { ...labels, grpc_code: statusName(code) };
      this.metrics.inFlight.dec(labels);
      this.metrics.handled.inc(withCode);
      this.metrics.handling.observe(withCode, seconds);
    };
  }
}

const traceparentFormat = /^([0-9a-f]{2})-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})$/;

/** The context of a W3C `traceparent` header, or the root context when it is malformed (a new trace then). */
function parentContext(traceparent: string): typeof ROOT_CONTEXT {
  const match = traceparentFormat.exec(traceparent);
  if (match === null || match[1] === "ff") return ROOT_CONTEXT;
  const spanContext = {
    traceId: match[2] as string,
    spanId: match[3] as string,
    traceFlags: Number.parseInt(match[4] as string, 16) & 1,
    isRemote: true,
  };
  return trace.isSpanContextValid(spanContext) ? trace.setSpanContext(ROOT_CONTEXT, spanContext) : ROOT_CONTEXT;
}

function endSpan(span: Span, code: Status): void {
  span.setAttribute("rpc.grpc.status_code", code);
  if (code !== Status.OK) span.setStatus({ code: SpanStatusCode.ERROR, message: statusName(code) });
  span.end();
}

function undecodable(request: UndecodableRequest): string {
  return `request is not a valid ${request.typeName}: ${request.reason}`;
}

/** `promise`, or a rejection with the signal's reason as soon as it aborts. */
function untilAborted<T>(promise: Promise<T>, signal: AbortSignal): Promise<T> {
  if (signal.aborted) {
    promise.catch(() => {});
    return Promise.reject(signal.reason);
  }
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(signal.reason);
    signal.addEventListener("abort", onAbort, { once: true });
    promise.then(
      (value) => {
        signal.removeEventListener("abort", onAbort);
        resolve(value);
      },
      (error: unknown) => {
        signal.removeEventListener("abort", onAbort);
        reject(error);
      },
    );
  });
}

type ServerCall = ServerUnaryCall<unknown, unknown> | ServerWritableStream<unknown, unknown>;

/**
 * A call's CallContext. Most unary handlers never look at the signal or the headers, so neither is made up front: the
 * AbortController and its `cancelled` listener, the header record and the peer are built on first use, and `aborted`
 * reads the call's own state. (grpc-js ends a call whose deadline passed and then reports it as cancelled, so no timer
 * of our own is needed for the deadline.)
 */
class GrpcCallContext implements CallContext {
  readonly #call: ServerCall;
  readonly method: string;
  readonly deadline: number | undefined;
  #controller: AbortController | undefined;
  #reason: CallAbortedError | undefined;
  #headers: Record<string, string> | undefined;
  #onCancel: (() => void) | undefined;
  #released = false;
  /** Set when the server's cap is earlier than the client's deadline (or the client set none). */
  readonly #capMs: number | undefined;
  #capTimer: NodeJS.Timeout | undefined;
  principal: Principal | undefined = undefined;
  traceparent: string | undefined = undefined;

  /** `maxDeadlineMs`: the server's cap (unary calls); undefined for none (streams). */
  constructor(call: ServerCall, method: string, maxDeadlineMs?: number) {
    this.#call = call;
    this.method = method;
    const rawDeadline = call.getDeadline();
    const deadlineMs = rawDeadline instanceof Date ? rawDeadline.getTime() : rawDeadline;
    const client = Number.isFinite(deadlineMs) ? deadlineMs : undefined;
    const cap = maxDeadlineMs === undefined ? undefined : Date.now() + maxDeadlineMs;
    if (cap !== undefined && (client === undefined || cap < client)) {
      this.deadline = cap;
      this.#capMs = maxDeadlineMs;
    } else {
      this.deadline = client;
    }
  }

  /**
   * When the server's cap (not the client's deadline, which grpc-js enforces) is this call's deadline: `expire` is
   * called with DEADLINE_EXCEEDED once it passes, and the signal aborts.
   */
  onCappedDeadline(expire: (error: CallAbortedError) => void): void {
    const capMs = this.#capMs;
    if (capMs === undefined) return;
    this.#capTimer = setTimeout(() => {
      this.#capTimer = undefined;
      const reason = new CallAbortedError(
        Status.DEADLINE_EXCEEDED,
        `deadline exceeded: the server caps a call at ${capMs} ms`,
      );
      this.abort(reason);
      expire(reason);
    }, capMs);
    this.#capTimer.unref();
  }

  get signal(): AbortSignal {
    if (this.#controller === undefined) {
      const controller = new AbortController();
      this.#controller = controller;
      const reason = this.abortReason();
      if (reason !== undefined) {
        controller.abort(reason);
      } else if (!this.#released) {
        this.#onCancel = () => this.abort(this.#cancelReason());
        this.#call.once("cancelled", this.#onCancel);
      }
    }
    return this.#controller.signal;
  }

  get aborted(): boolean {
    return this.abortReason() !== undefined;
  }

  get headers(): Record<string, string> {
    if (this.#headers === undefined) {
      const headers: Record<string, string> = {};
      for (const [key, value] of Object.entries(this.#call.metadata.getMap())) {
        if (typeof value === "string") headers[key] = value;
      }
      this.#headers = headers;
    }
    return this.#headers;
  }

  get peer(): string {
    return this.#call.getPeer();
  }

  get clientCertificateSubject(): string | undefined {
    const subject = this.#call.getAuthContext()?.sslPeerCertificate?.subject;
    if (subject === undefined || subject === null) return undefined;
    const parts = Object.entries(subject).map(
      ([key, value]) => `${key}=${Array.isArray(value) ? value.join("+") : value}`,
    );
    return parts.length > 0 ? parts.join(",") : undefined;
  }

  /** Why the call is over for its client, if it is: cancelled, past its deadline, or the server shutting down. */
  abortReason(): CallAbortedError | undefined {
    // Once the call has ended, grpc-js marks it cancelled whatever its outcome: only what happened before counts.
    if (this.#reason === undefined && !this.#released) {
      if (this.#call.cancelled) this.#reason = this.#cancelReason();
      else if (this.deadline !== undefined && Date.now() >= this.deadline) {
        this.#reason = new CallAbortedError(Status.DEADLINE_EXCEEDED, "deadline exceeded");
      }
    }
    return this.#reason;
  }

  abort(reason: CallAbortedError): void {
    this.#reason ??= reason;
    this.#controller?.abort(this.#reason);
  }

  /** The call is finished: stop listening for its cancellation. */
  release(): void {
    this.#released = true;
    if (this.#capTimer !== undefined) clearTimeout(this.#capTimer);
    if (this.#onCancel !== undefined) this.#call.off("cancelled", this.#onCancel);
  }

  /**
   * grpc-js reports a call whose deadline passed as cancelled, and the client's own deadline timer may cancel a little
   * before ours (our deadline = its deadline + the request's transit). Both are the deadline, not a client's choice.
   */
  #cancelReason(): CallAbortedError {
    const expired = this.deadline !== undefined && Date.now() >= this.deadline - DEADLINE_TOLERANCE_MS;
    return expired
      ? new CallAbortedError(Status.DEADLINE_EXCEEDED, "deadline exceeded")
      : new CallAbortedError(Status.CANCELLED, "cancelled by the client");
  }
}

/**
 * Resolves once the stream has room again; rejects with ResourceExhaustedError when the client has not read for
 * `stallTimeoutMs` (the server has stopped producing meanwhile: memory stays bounded, and the client is told why).
 */
function drained(call: EventEmitter, stallTimeoutMs: number | undefined): Promise<unknown> {
  if (stallTimeoutMs === undefined) return once(call, "drain");
  return new Promise((resolve, reject) => {
    const onDrain = () => {
      clearTimeout(timer);
      resolve(undefined);
    };
    const timer = setTimeout(() => {
      call.off("drain", onDrain);
      reject(
        new ResourceExhaustedError(
          `the client read nothing for ${stallTimeoutMs} ms while the server had more to send: consumer too far ` +
            "behind, stream ended; call again from the last message received",
        ),
      );
    }, stallTimeoutMs);
    call.once("drain", onDrain);
  });
}
