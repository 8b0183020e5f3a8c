import { create, fromBinary, toBinary } from "@bufbuild/protobuf";
import {
  Client,
  type ClientOptions,
  type ClientUnaryCall,
  credentials,
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

export class CommandClient {
  private readonly clients: Client[];
  private next = 0;

  constructor(address: string, connections = 1) {
    this.clients = [];
    for (let i = 0; i < Math.max(1, connections); i++) {
      // A distinct channel option per client keeps grpc-js from sharing one subchannel (one connection) among them.
      this.clients.push(
        new Client(address, credentials.createInsecure(), { ...CHANNEL_OPTIONS, "grpc.channel_id_hint": i }),
      );
    }
  }

  /** `deadlineMs` > 0 sends a gRPC deadline with the call (grpc-js arms a timer per call for it). */
  call(method: CommandMethod, bytes: Buffer, deadlineMs: number, callback: CommandCallback): ClientUnaryCall {
    const client = this.clients[this.next] as Client;
    this.next = this.next + 1 === this.clients.length ? 0 : this.next + 1;
    const options = deadlineMs > 0 ? { deadline: Date.now() + deadlineMs } : {};
    return client.makeUnaryRequest<Buffer, AcceptedReply | undefined>(
      COMMAND_PATHS[method],
      identity,
      decodeAccepted,
      bytes,
      options,
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

  constructor(address: string) {
    this.client = new Client(address, credentials.createInsecure(), CHANNEL_OPTIONS);
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
    const options = timeoutMs > 0 ? { deadline: Date.now() + timeoutMs } : {};
    this.client.makeUnaryRequest(
      GET_ORDER_SUMMARY,
      identity,
      (b: Buffer) => fromBinary(GetOrderSummaryResponseSchema, b),
      bytes,
      options,
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
