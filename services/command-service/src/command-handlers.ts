import type {
  CancelOrderRequest,
  CancelOrderResponse,
  CreateOrderRequest,
  CreateOrderResponse,
  ShipOrderRequest,
  ShipOrderResponse,
  UpdatePaymentStatusRequest,
  UpdatePaymentStatusResponse,
} from "@orderly/contracts";
import { type CommandOutcome, isDomainError } from "@orderly/eventsourcing";
import type { CommandPipeline } from "./command-pipeline.js";
import type { CommandMetrics } from "./metrics.js";
import {
  type CallContext,
  type CommandRequest,
  toCancelOrder,
  toCancelOrderResponse,
  toCreateOrder,
  toCreateOrderResponse,
  toShipOrder,
  toShipOrderResponse,
  toUpdatePaymentStatus,
  toUpdatePaymentStatusResponse,
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

  /** One RPC: map the request, run it, map its outcome to the reply. */
  function handle<Request, Response>(
    name: string,
    toRequest: (request: Request, call: CallContext) => CommandRequest,
    toResponse: (outcome: CommandOutcome) => Response,
  ): (request: Request, call: CallContext) => Promise<Response> {
    return async (request, call) => toResponse(await run(name, call, () => toRequest(request, call)));
  }

  return {
    createOrder: handle("CreateOrder", toCreateOrder, toCreateOrderResponse),
    updatePaymentStatus: handle("UpdatePaymentStatus", toUpdatePaymentStatus, toUpdatePaymentStatusResponse),
    shipOrder: handle("ShipOrder", toShipOrder, toShipOrderResponse),
    cancelOrder: handle("CancelOrder", toCancelOrder, toCancelOrderResponse),
  };
}
