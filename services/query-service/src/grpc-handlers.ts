import { create } from "@bufbuild/protobuf";
import {
  type GetOrderSummaryRequest,
  type GetOrderSummaryResponse,
  GetOrderSummaryResponseSchema,
  type ListCustomerOrdersRequest,
  type ListCustomerOrdersResponse,
  ListCustomerOrdersResponseSchema,
  type WaitForPositionRequest,
  type WaitForPositionResponse,
  WaitForPositionResponseSchema,
} from "@orderly/contracts";
import { codeOf, type Observe, type RpcKinds, timed, timedStream } from "./call-timing.js";
import type { Queries } from "./queries.js";
import { positionFromProto, toReadModelPosition, toSummary } from "./to-summary.js";

/** What the gRPC server hands every call (a subset of @orderly/grpc-server's context). */
export interface CallContext {
  readonly signal: AbortSignal;
  readonly deadline: number | undefined;
  /** With tracing on, the call's SERVER span. */
  readonly traceparent?: string | undefined;
}

export interface QueryServiceHandlers {
  getOrderSummary(request: GetOrderSummaryRequest, ctx: CallContext): Promise<GetOrderSummaryResponse>;
  listCustomerOrders(request: ListCustomerOrdersRequest, ctx: CallContext): Promise<ListCustomerOrdersResponse>;
  waitForPosition(request: WaitForPositionRequest, ctx: CallContext): AsyncGenerator<WaitForPositionResponse>;
}

export const queryRpcKinds: RpcKinds<QueryServiceHandlers> = {
  getOrderSummary: "unary",
  listCustomerOrders: "unary",
  waitForPosition: "stream",
};

/** The QueryService RPCs: protobuf in, use case, protobuf out (mapping in to-summary.ts). */
export function queryServiceHandlers(queries: Queries, observe: Observe = () => {}): QueryServiceHandlers {
  return {
    getOrderSummary: (request, ctx) =>
      timed(observe, "GetOrderSummary", async () => {
        const result = await queries.getOrderSummary(
          { orderId: request.orderId, minPosition: positionFromProto(request.minPosition, "min_position") },
          ctx,
        );
        return create(GetOrderSummaryResponseSchema, {
          summary: toSummary(result.summary),
          consistency: toReadModelPosition(result.consistency),
        });
      }),

    listCustomerOrders: (request, ctx) =>
      timed(observe, "ListCustomerOrders", async () => {
        const result = await queries.listCustomerOrders(
          {
            customerId: request.customerId,
            pageSize: request.pageSize,
            pageToken: request.pageToken,
            minPosition: positionFromProto(request.minPosition, "min_position"),
          },
          ctx,
        );
        return create(ListCustomerOrdersResponseSchema, {
          orders: result.orders.map(toSummary),
          nextPageToken: result.nextPageToken,
          consistency: toReadModelPosition(result.consistency),
        });
      }),

    waitForPosition: (request, ctx) =>
      timedStream(observe, "WaitForPosition", ctx.signal, codeOf, async function* () {
        const progress = queries.waitForPosition(
          {
            minPosition: positionFromProto(request.minPosition, "min_position"),
            readModels: request.readModels,
          },
          ctx,
        );
        for await (const message of progress) {
          yield create(WaitForPositionResponseSchema, {
            readModels: message.readModels.map(toReadModelPosition),
            reached: message.reached,
          });
        }
      }),
  };
}
