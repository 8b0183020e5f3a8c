// The RPC ceiling of the query side: the same gRPC server stack as the query service (@orderly/grpc-server on
// grpc-js, protobuf-es), answering GetOrderSummary and ListCustomerOrders with a canned reply (no Postgres, no Redis).
// The replies are real ones captured from the query service by the benchmark (CANNED_SUMMARY / CANNED_LIST: base64
// protobuf bytes), so both servers serialise the same messages.
import { fromBinary } from "@bufbuild/protobuf";
import { GetOrderSummaryResponseSchema, ListCustomerOrdersResponseSchema, QueryService } from "@orderly/contracts";
import { GrpcServer } from "@orderly/grpc-server";
import { createLogger } from "@orderly/observability";

const summary = fromBinary(GetOrderSummaryResponseSchema, Buffer.from(process.env.CANNED_SUMMARY ?? "", "base64"));
const list = fromBinary(ListCustomerOrdersResponseSchema, Buffer.from(process.env.CANNED_LIST ?? "", "base64"));
const server = new GrpcServer({ name: "canned", logger: createLogger("canned", { level: "warn" }), reflection: false });
server.addService(QueryService, {
  getOrderSummary: async () => summary,
  listCustomerOrders: async () => list,
  async *waitForPosition() {},
});
const port = await server.listen(Number(process.env.QUERY_PORT ?? 0), "127.0.0.1");
console.log(`canned query server ready on ${port}`);
process.on("SIGTERM", () => {
  void server.shutdown({ graceMs: 1000 }).then(() => process.exit(0));
});
