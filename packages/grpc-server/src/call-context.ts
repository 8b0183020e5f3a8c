import { type ServerUnaryCall, type ServerWritableStream, status as Status } from "@grpc/grpc-js";
import type { Principal } from "./auth.js";

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

const DEADLINE_TOLERANCE_MS = 100;

export type ServerCall = ServerUnaryCall<unknown, unknown> | ServerWritableStream<unknown, unknown>;

/**
 * A call's CallContext. Most unary handlers never look at the signal or the headers, so neither is made up front: the
 * AbortController and its `cancelled` listener, the header record and the peer are built on first use, and `aborted`
 * reads the call's own state. (grpc-js ends a call whose deadline passed and then reports it as cancelled, so no timer
 * of our own is needed for the deadline.)
 */
export class GrpcCallContext implements CallContext {
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
