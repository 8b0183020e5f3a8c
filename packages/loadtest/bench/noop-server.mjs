// A no-op CommandService: a plain @grpc/grpc-js server whose CreateOrder returns one canned reply (bytes encoded
// once at start). It measures what a generator costs, not what a server costs. Prints `port <n>` when listening.
import { create, toBinary } from "@bufbuild/protobuf";
import { Server, ServerCredentials } from "@grpc/grpc-js";
import { CommandService, CreateOrderResponseSchema } from "@orderly/contracts";

const canned = Buffer.from(
  toBinary(
    CreateOrderResponseSchema,
    create(CreateOrderResponseSchema, {
      accepted: {
        commandId: "00000000-0000-4000-8000-000000000001",
        orderId: "00000000-0000-4000-8000-000000000002",
        streamVersion: 1n,
        position: 1n,
        duplicate: false,
      },
    }),
  ),
);
const identity = (b) => b;
const definition = {
  CreateOrder: {
    path: `/${CommandService.typeName}/CreateOrder`,
    requestStream: false,
    responseStream: false,
    requestSerialize: identity,
    requestDeserialize: identity,
    responseSerialize: identity,
    responseDeserialize: identity,
  },
};
const server = new Server();
server.addService(definition, { CreateOrder: (_call, callback) => callback(null, canned) });
server.bindAsync(`127.0.0.1:${process.argv[2] ?? 0}`, ServerCredentials.createInsecure(), (error, port) => {
  if (error) throw error;
  process.stdout.write(`port ${port}\n`);
});
const stop = () => server.tryShutdown(() => process.exit(0));
process.on("SIGTERM", stop);
process.on("SIGINT", stop);
