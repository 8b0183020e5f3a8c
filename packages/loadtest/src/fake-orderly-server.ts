import { create, fromBinary, toBinary } from "@bufbuild/protobuf";
import {
  Server,
  ServerCredentials,
  type ServerUnaryCall,
  type ServiceDefinition,
  type sendUnaryData,
  status,
} from "@grpc/grpc-js";
import {
  CancelOrderRequestSchema,
  CommandService,
  CreateOrderRequestSchema,
  CreateOrderResponseSchema,
  GetOrderSummaryRequestSchema,
  GetOrderSummaryResponseSchema,
  OrderStatus,
  PaymentStatus,
  QueryService,
  ShipOrderRequestSchema,
  UpdatePaymentStatusRequestSchema,
} from "@orderly/contracts";

/**
 * An in-memory stand-in for the CommandService and QueryService with the contract's rules that the generator
 * exercises (idempotency keys, expected_version → ABORTED, order state → FAILED_PRECONDITION), for tests of the
 * generator itself. Not a model of Orderly's performance.
 */
export interface FakeServerOptions {
  /** Every n-th command call fails with UNAVAILABLE (before any effect). 0: never. */
  readonly unavailableEvery?: number;
  /** Answer every command call this late (ms). */
  readonly delayMs?: number;
}

interface FakeOrder {
  version: number;
  status: OrderStatus;
  lastPosition: number;
}

interface Stored {
  readonly bytes: string;
  readonly orderId: string;
  readonly streamVersion: number;
  readonly position: number;
  readonly commandId: string;
}

export interface FakeServer {
  readonly port: number;
  readonly calls: Record<string, number>;
  readonly orders: ReadonlyMap<string, FakeOrder>;
  close(): Promise<void>;
}

/** The fields every command on an existing order carries. */
interface OrderCommand {
  readonly idempotencyKey: string;
  readonly orderId: string;
  readonly expectedVersion?: bigint | undefined;
}

type Handler = (bytes: Buffer) => { code: status; details?: string; reply?: Buffer };

export async function startFakeOrderlyServer(options: FakeServerOptions = {}): Promise<FakeServer> {
  const orders = new Map<string, FakeOrder>();
  const keys = new Map<string, Stored>();
  const calls: Record<string, number> = {};
  let position = 0;
  let commandCount = 0;

  const accept = (key: string, bytes: Buffer, orderId: string, order: FakeOrder): Buffer => {
    position += 1;
    order.version += 1;
    order.lastPosition = position;
    const stored: Stored = {
      bytes: bytes.toString("base64"),
      orderId,
      streamVersion: order.version,
      position,
      commandId: `cmd-${position}`,
    };
    keys.set(key, stored);
    return reply(stored, false);
  };
  const reply = (s: Stored, duplicate: boolean): Buffer =>
    Buffer.from(
      toBinary(
        CreateOrderResponseSchema,
        create(CreateOrderResponseSchema, {
          accepted: {
            commandId: s.commandId,
            orderId: s.orderId,
            streamVersion: BigInt(s.streamVersion),
            position: BigInt(s.position),
            duplicate,
          },
        }),
      ),
    );
  /** Idempotency: a stored key answers (same bytes) or conflicts (different bytes). */
  const replay = (key: string, bytes: Buffer) => {
    const stored = keys.get(key);
    if (!stored) return undefined;
    if (stored.bytes === bytes.toString("base64")) return { code: status.OK, reply: reply(stored, true) };
    return { code: status.ALREADY_EXISTS, details: `idempotency key ${key} was used for a different request` };
  };
  const existing = (orderId: string, expectedVersion: bigint | undefined) => {
    const order = orders.get(orderId);
    if (!order) return { error: { code: status.NOT_FOUND, details: `order ${orderId} not found` } };
    if (expectedVersion !== undefined && Number(expectedVersion) !== order.version) {
      return {
        error: { code: status.ABORTED, details: `expected version ${expectedVersion}, order is at ${order.version}` },
      };
    }
    return { order };
  };

  /**
   * A command on an existing order: a replayed key answers as before; otherwise the order must exist at the
   * expected version, and `refused` (its state) fails it with FAILED_PRECONDITION before it moves to `next`.
   */
  const onOrder =
    <R extends OrderCommand>(
      decode: (bytes: Buffer) => R,
      refused: (order: FakeOrder, request: R) => boolean,
      refusal: string,
      next: OrderStatus,
    ): Handler =>
    (bytes) => {
      const r = decode(bytes);
      const dup = replay(r.idempotencyKey, bytes);
      if (dup) return dup;
      const { order, error } = existing(r.orderId, r.expectedVersion);
      if (!order) return error;
      if (refused(order, r)) return { code: status.FAILED_PRECONDITION, details: refusal };
      order.status = next;
      return { code: status.OK, reply: accept(r.idempotencyKey, bytes, r.orderId, order) };
    };

  const commandHandlers: Record<string, Handler> = {
    CreateOrder: (bytes) => {
      const r = fromBinary(CreateOrderRequestSchema, bytes);
      const dup = replay(r.idempotencyKey, bytes);
      if (dup) return dup;
      if (orders.has(r.orderId)) return { code: status.ALREADY_EXISTS, details: `order ${r.orderId} exists` };
      const order: FakeOrder = { version: 0, status: OrderStatus.PLACED, lastPosition: 0 };
      orders.set(r.orderId, order);
      return { code: status.OK, reply: accept(r.idempotencyKey, bytes, r.orderId, order) };
    },
    UpdatePaymentStatus: onOrder(
      (bytes) => fromBinary(UpdatePaymentStatusRequestSchema, bytes),
      (order, r) => order.status !== OrderStatus.PLACED || r.status !== PaymentStatus.PAID,
      "payment not allowed",
      OrderStatus.PAID,
    ),
    ShipOrder: onOrder(
      (bytes) => fromBinary(ShipOrderRequestSchema, bytes),
      (order) => order.status !== OrderStatus.PAID,
      "not paid",
      OrderStatus.SHIPPED,
    ),
    CancelOrder: onOrder(
      (bytes) => fromBinary(CancelOrderRequestSchema, bytes),
      (order) => order.status !== OrderStatus.PLACED && order.status !== OrderStatus.PAID,
      "cannot cancel",
      OrderStatus.CANCELLED,
    ),
  };

  const getOrderSummary: Handler = (bytes) => {
    const r = fromBinary(GetOrderSummaryRequestSchema, bytes);
    const order = orders.get(r.orderId);
    if (Number(r.minPosition) > position) return { code: status.UNAVAILABLE, details: "position not reached" };
    if (!order) return { code: status.NOT_FOUND, details: "no such order" };
    const response = create(GetOrderSummaryResponseSchema, {
      summary: { orderId: r.orderId, version: BigInt(order.version), status: order.status },
      consistency: { readModel: "order_summaries", position: BigInt(position), lagSeconds: 0 },
    });
    return { code: status.OK, reply: Buffer.from(toBinary(GetOrderSummaryResponseSchema, response)) };
  };

  const definition = (typeName: string, handlers: Record<string, Handler>): ServiceDefinition =>
    Object.fromEntries(
      Object.keys(handlers).map((name) => [
        name,
        {
          path: `/${typeName}/${name}`,
          requestStream: false,
          responseStream: false,
          requestSerialize: (b: Buffer) => b,
          requestDeserialize: (b: Buffer) => b,
          responseSerialize: (b: Buffer) => b,
          responseDeserialize: (b: Buffer) => b,
        },
      ]),
    ) as ServiceDefinition;
  const implementation = (handlers: Record<string, Handler>, counted: boolean) =>
    Object.fromEntries(
      Object.entries(handlers).map(([name, handler]) => [
        name,
        (call: ServerUnaryCall<Buffer, Buffer>, callback: sendUnaryData<Buffer>) => {
          calls[name] = (calls[name] ?? 0) + 1;
          if (counted) {
            commandCount += 1;
            if (options.unavailableEvery && commandCount % options.unavailableEvery === 0) {
              callback({ code: status.UNAVAILABLE, details: "injected outage" });
              return;
            }
          }
          const result = handler(call.request);
          const answer = () => {
            if (result.code === status.OK) callback(null, result.reply);
            else callback({ code: result.code, details: result.details ?? "" });
          };
          if (counted && options.delayMs) setTimeout(answer, options.delayMs);
          else answer();
        },
      ]),
    );

  const server = new Server();
  server.addService(definition(CommandService.typeName, commandHandlers), implementation(commandHandlers, true));
  const queryHandlers = { GetOrderSummary: getOrderSummary };
  server.addService(definition(QueryService.typeName, queryHandlers), implementation(queryHandlers, false));
  const port = await new Promise<number>((resolve, reject) => {
    server.bindAsync("127.0.0.1:0", ServerCredentials.createInsecure(), (error, bound) =>
      error ? reject(error) : resolve(bound),
    );
  });
  return {
    port,
    calls,
    orders,
    close: () =>
      new Promise<void>((resolve) => {
        server.forceShutdown();
        resolve();
      }),
  };
}
