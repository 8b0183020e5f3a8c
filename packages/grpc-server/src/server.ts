import type { DescMessage } from "@bufbuild/protobuf";
import type { GenService, GenServiceMethods } from "@bufbuild/protobuf/codegenv2";
import { type ChannelOptions, Server, ServerCredentials, status as Status } from "@grpc/grpc-js";
import type { Tracer } from "@opentelemetry/api";
import type { Logger } from "pino";
import { Registry } from "prom-client";
import type { JwtAuthenticator, JwtAuthOptions } from "./auth.js";
import { grpcServiceDefinition } from "./binding.js";
import { callerLimits, createAuthenticator, reflectionGuard } from "./call-admission.js";
import { CallAbortedError, type GrpcCallContext } from "./call-context.js";
import type { CallEnvironment } from "./call-environment.js";
import { HealthState } from "./health.js";
import { grpcMetrics } from "./metrics.js";
import type { CallerLimitOptions } from "./rate-limit.js";
import { addReflection } from "./reflection.js";
import { serverStreamingCall } from "./server-stream-call.js";
import type { ServerStreamingHandler, ServiceImplementation, UnaryHandler } from "./service-implementation.js";
import { ServerTls, type ServerTlsOptions } from "./tls.js";
import { unaryCall } from "./unary-call.js";

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

export const MAX_RECEIVE_MESSAGE_BYTES = 1024 * 1024;

/**
 * A gRPC server (grpc-js) whose handlers take and return protobuf-es messages. Maps errors to status in one place,
 * answers INVALID_ARGUMENT to undecodable requests, serves grpc.health.v1 and reflection, records Prometheus metrics,
 * and stops gracefully.
 */
export class GrpcServer {
  private readonly server: Server;
  private readonly logger: Logger;
  private readonly health = new HealthState();
  private readonly serviceNames: string[] = [];
  private readonly streams = new Set<GrpcCallContext>();
  private readonly tls: ServerTls | undefined;
  private readonly auth: JwtAuthenticator | undefined;
  /** What the calls share: metrics, tracer, deadline cap, auth and limits. */
  private readonly calls: CallEnvironment;
  private serving = true;
  private listening = false;
  private stopping: Promise<void> | undefined;

  constructor(private readonly options: GrpcServerOptions) {
    this.logger = options.logger;
    const metrics = grpcMetrics(options.registry ?? new Registry());
    // Reads the certificate files now: a bad path or a mismatched key fails the start, not the first connection.
    this.tls = options.tls ? new ServerTls(options.tls, this.logger) : undefined;
    this.auth = createAuthenticator(options.auth, this.logger);
    const maxDeadlineMs = options.maxDeadlineMs ?? DEFAULT_MAX_DEADLINE_MS;
    if (!(maxDeadlineMs >= 1)) throw new Error(`maxDeadlineMs must be >= 1, got ${maxDeadlineMs}`);
    const { limiter, openStreams } = callerLimits(options.limits);
    this.calls = {
      logger: this.logger,
      metrics,
      tracer: options.tracer,
      maxDeadlineMs,
      auth: this.auth,
      limiter,
      openStreams,
      streams: this.streams,
    };
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
          ? unaryCall(this.calls, method, handler as UnaryHandler<DescMessage, DescMessage>, options.scope)
          : serverStreamingCall(
              this.calls,
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
      addReflection(
        this.server,
        [...this.serviceNames, "grpc.health.v1.Health"],
        this.options.protoDir,
        reflectionGuard(this.auth),
      );
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
}
