import { create, fromBinary, toBinary } from "@bufbuild/protobuf";
import {
  type CallOptions,
  Client,
  type ClientOptions,
  type ClientUnaryCall,
  type ServiceError,
  status,
} from "@grpc/grpc-js";
import {
  CommandService,
  GetOrderSummaryRequestSchema,
  type GetOrderSummaryResponse,
  GetOrderSummaryResponseSchema,
  QueryService,
} from "@orderly/contracts";
import type { CommandMethod } from "./planner.js";
import { BearerMetadata, channelSecurity, type LoadSecurity } from "./security.js";
import { type AcceptedReply, decodeAccepted } from "./wire.js";

/**
 * The lean path: requests are encoded once by the planner and handed to grpc-js as bytes (identity serializer);
 * every CommandService reply has the same shape (`CommandAccepted accepted = 1`), so one wire-level decoder serves
 * all four methods. No stubs, no interceptors, no per-call closures beyond grpc-js's own.
 */
const identity = (bytes: Buffer): Buffer => bytes;

const COMMAND_PATHS: Record<CommandMethod, string> = {
  CreateOrder: `/${CommandService.typeName}/${CommandService.method.createOrder.name}`,
  UpdatePaymentStatus: `/${CommandService.typeName}/${CommandService.method.updatePaymentStatus.name}`,
  ShipOrder: `/${CommandService.typeName}/${CommandService.method.shipOrder.name}`,
  CancelOrder: `/${CommandService.typeName}/${CommandService.method.cancelOrder.name}`,
};
const GET_ORDER_SUMMARY = `/${QueryService.typeName}/${QueryService.method.getOrderSummary.name}`;

/** The `accepted` field of any CommandService reply (undefined when the reply lacks it). */
export type CommandCallback = (error: ServiceError | null, accepted: AcceptedReply | undefined) => void;

/** grpc-js channel options: one HTTP/2 connection per client, no retries (a load tester reports, never hides). */
const CHANNEL_OPTIONS: ClientOptions = {
  "grpc.enable_retries": 0,
  "grpc.max_receive_message_length": 4 * 1024 * 1024,
};

/** Per-call options: the deadline (when > 0) and, for an asynchronous token provider, the call's credentials. */
function callOptions(deadlineMs: number, bearer: ReturnType<BearerMetadata["next"]>): CallOptions {
  const options: CallOptions = deadlineMs > 0 ? { deadline: Date.now() + deadlineMs } : {};
  if (bearer.credentials) options.credentials = bearer.credentials;
  return options;
}

export class CommandClient {
  private readonly clients: Client[];
  private readonly bearer: BearerMetadata;
  private next = 0;

  /** `security`: TLS (with a client certificate for mTLS) and a bearer token asked per call; plaintext without. */
  constructor(address: string, connections = 1, security?: LoadSecurity) {
    this.clients = [];
    this.bearer = new BearerMetadata(security?.token);
    const channel = channelSecurity(security?.tls);
    for (let i = 0; i < Math.max(1, connections); i++) {
      // A distinct channel option per client keeps grpc-js from sharing one subchannel (one connection) among them.
      this.clients.push(
        new Client(address, channel.credentials, { ...CHANNEL_OPTIONS, ...channel.options, "grpc.channel_id_hint": i }),
      );
    }
  }

  /** `deadlineMs` > 0 sends a gRPC deadline with the call (grpc-js arms a timer per call for it). */
  call(method: CommandMethod, bytes: Buffer, deadlineMs: number, callback: CommandCallback): ClientUnaryCall {
    const client = this.clients[this.next] as Client;
    this.next = this.next + 1 === this.clients.length ? 0 : this.next + 1;
    const bearer = this.bearer.next();
    return client.makeUnaryRequest<Buffer, AcceptedReply | undefined>(
      COMMAND_PATHS[method],
      identity,
      decodeAccepted,
      bytes,
      bearer.metadata,
      callOptions(deadlineMs, bearer),
      callback,
    );
  }

  /** Resolves once every connection is ready (or rejects after the deadline). */
  async waitForReady(timeoutMs: number): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    await Promise.all(
      this.clients.map(
        (client) =>
          new Promise<void>((resolve, reject) => {
            client.waitForReady(deadline, (error) => (error ? reject(error) : resolve()));
          }),
      ),
    );
  }

  close(): void {
    for (const client of this.clients) client.close();
  }
}

export class QueryClient {
  private readonly client: Client;
  private readonly bearer: BearerMetadata;

  constructor(address: string, security?: LoadSecurity) {
    const channel = channelSecurity(security?.tls);
    this.client = new Client(address, channel.credentials, { ...CHANNEL_OPTIONS, ...channel.options });
    this.bearer = new BearerMetadata(security?.token);
  }

  getOrderSummary(
    orderId: string,
    minPosition: number,
    timeoutMs: number,
    callback: (error: ServiceError | null, response: GetOrderSummaryResponse | undefined) => void,
  ): void {
    const request = toBinary(
      GetOrderSummaryRequestSchema,
      create(GetOrderSummaryRequestSchema, { orderId, minPosition: BigInt(minPosition) }),
    );
    const bytes = Buffer.from(request.buffer, request.byteOffset, request.byteLength);
    const bearer = this.bearer.next();
    this.client.makeUnaryRequest(
      GET_ORDER_SUMMARY,
      identity,
      (b: Buffer) => fromBinary(GetOrderSummaryResponseSchema, b),
      bytes,
      bearer.metadata,
      callOptions(timeoutMs, bearer),
      callback,
    );
  }

  async waitForReady(timeoutMs: number): Promise<void> {
    await new Promise<void>((resolve, reject) => {
      this.client.waitForReady(Date.now() + timeoutMs, (error) => (error ? reject(error) : resolve()));
    });
  }

  close(): void {
    this.client.close();
  }
}

/** `OK`, `ABORTED`, …: the canonical name of a gRPC status code. */
export function statusName(code: number): string {
  return status[code] ?? `CODE_${code}`;
}
