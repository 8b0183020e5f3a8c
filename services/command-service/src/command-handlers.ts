import { create } from "@bufbuild/protobuf";
import {
  type CancelOrderRequest,
  type CancelOrderResponse,
  CancelOrderResponseSchema,
  type CreateOrderRequest,
  type CreateOrderResponse,
  CreateOrderResponseSchema,
  type ShipOrderRequest,
  type ShipOrderResponse,
  ShipOrderResponseSchema,
  type UpdatePaymentStatusRequest,
  type UpdatePaymentStatusResponse,
  UpdatePaymentStatusResponseSchema,
} from "@orderly/contracts";
import { type CommandOutcome, isDomainError } from "@orderly/eventsourcing";
import type { CommandPipeline } from "./command-pipeline.js";
import type { CommandMetrics } from "./metrics.js";
import {
  type CallContext,
  type CommandRequest,
  toCancelOrder,
  toCommandAccepted,
  toCreateOrder,
  toShipOrder,
  toUpdatePaymentStatus,
} from "./to-command.js";

/** The CommandService's use cases, one per RPC: map the request, run the pipeline, map the outcome. */
export interface CommandHandlers {
  createOrder(request: CreateOrderRequest, call: CallContext): Promise<CreateOrderResponse>;
  updatePaymentStatus(request: UpdatePaymentStatusRequest, call: CallContext): Promise<UpdatePaymentStatusResponse>;
  shipOrder(request: ShipOrderRequest, call: CallContext): Promise<ShipOrderResponse>;
  cancelOrder(request: CancelOrderRequest, call: CallContext): Promise<CancelOrderResponse>;
}

export function createCommandHandlers(pipeline: CommandPipeline, metrics?: CommandMetrics): CommandHandlers {
  /** Runs one command, timing it and counting its outcome; errors propagate to the server's status mapping. */
  async function run(name: string, call: CallContext, toRequest: () => CommandRequest): Promise<CommandOutcome> {
    const started = performance.now();
    try {
      const outcome = await pipeline.execute(toRequest(), call);
      metrics?.observe(name, outcome.duplicate ? "duplicate" : "accepted", (performance.now() - started) / 1000);
      return outcome;
    } catch (error) {
      const outcome = isDomainError(error) ? error.code : call.aborted ? "cancelled" : "internal";
      metrics?.observe(name, outcome, (performance.now() - started) / 1000);
      throw error;
    }
  }

  return {
    async createOrder(request, call) {
      const outcome = await run("CreateOrder", call, () => toCreateOrder(request, call));
      return create(CreateOrderResponseSchema, { accepted: toCommandAccepted(outcome) });
    },
    async updatePaymentStatus(request, call) {
      const outcome = await run("UpdatePaymentStatus", call, () => toUpdatePaymentStatus(request, call));
      return create(UpdatePaymentStatusResponseSchema, { accepted: toCommandAccepted(outcome) });
    },
    async shipOrder(request, call) {
      const outcome = await run("ShipOrder", call, () => toShipOrder(request, call));
      return create(ShipOrderResponseSchema, { accepted: toCommandAccepted(outcome) });
    },
    async cancelOrder(request, call) {
      const outcome = await run("CancelOrder", call, () => toCancelOrder(request, call));
      return create(CancelOrderResponseSchema, { accepted: toCommandAccepted(outcome) });
    },
  };
}
