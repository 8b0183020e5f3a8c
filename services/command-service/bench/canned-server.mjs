// The RPC ceiling: the same gRPC server stack as the command service (@orderly/grpc-server on grpc-js, protobuf-es),
// whose handlers return a canned CommandAccepted without touching a database.
import { create } from "@bufbuild/protobuf";
import {
  CancelOrderResponseSchema,
  CommandService,
  CreateOrderResponseSchema,
  ShipOrderResponseSchema,
  UpdatePaymentStatusResponseSchema,
} from "@orderly/contracts";
import { GrpcServer } from "@orderly/grpc-server";
import { createLogger } from "@orderly/observability";

const accepted = {
  commandId: "00000000-0000-4000-8000-000000000000",
  orderId: "00000000-0000-4000-8000-000000000001",
  streamVersion: 1n,
  position: 1n,
  duplicate: false,
};
const server = new GrpcServer({ name: "canned", logger: createLogger("canned", { level: "warn" }), reflection: false });
server.addService(CommandService, {
  createOrder: async () => create(CreateOrderResponseSchema, { accepted }),
  updatePaymentStatus: async () => create(UpdatePaymentStatusResponseSchema, { accepted }),
  shipOrder: async () => create(ShipOrderResponseSchema, { accepted }),
  cancelOrder: async () => create(CancelOrderResponseSchema, { accepted }),
});
const port = await server.listen(Number(process.env.COMMAND_PORT ?? 0), "127.0.0.1");
console.log(`canned server ready on ${port}`);
process.on("SIGTERM", () => {
  void server.shutdown({ graceMs: 1000 }).then(() => process.exit(0));
});
