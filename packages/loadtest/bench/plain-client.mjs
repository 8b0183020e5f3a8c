// The baseline the generator is held to: a plain @grpc/grpc-js client loop making the same CreateOrder calls
// (a new idempotency key and order id each, 1–3 items), closed loop at a fixed concurrency, nothing recorded.
//   node bench/plain-client.mjs <address> <concurrency> <count> [proto-loader|protobuf-es]
// proto-loader: the usual grpc-js stub from the .proto files; protobuf-es: makeUnaryRequest with the generated
// protobuf-es serializers. Prints one JSON line: calls, wall_ms, cpu_us, cpu_per_call_us, rps.
import { performance } from "node:perf_hooks";
import { create, fromBinary, toBinary } from "@bufbuild/protobuf";
import * as grpc from "@grpc/grpc-js";
import { CommandService, CreateOrderRequestSchema, CreateOrderResponseSchema } from "@orderly/contracts";
import { loadCommandsProto, requestFields } from "./plain-request.mjs";

const [address = "127.0.0.1:50051", concurrencyText = "64", countText = "20000", variant = "proto-loader"] =
  process.argv.slice(2);
const concurrency = Number(concurrencyText);
const count = Number(countText);

let call;
let close;
if (variant === "proto-loader") {
  const Service = grpc.loadPackageDefinition(loadCommandsProto()).orderly.orders.v1.CommandService;
  const client = new Service(address, grpc.credentials.createInsecure());
  call = (seq, callback) => client.CreateOrder(requestFields(seq), callback);
  close = () => client.close();
} else {
  const client = new grpc.Client(address, grpc.credentials.createInsecure());
  const path = `/${CommandService.typeName}/CreateOrder`;
  const serialize = (message) => Buffer.from(toBinary(CreateOrderRequestSchema, message));
  const deserialize = (bytes) => fromBinary(CreateOrderResponseSchema, bytes);
  call = (seq, callback) => {
    const f = requestFields(seq);
    const message = create(CreateOrderRequestSchema, {
      ...f,
      items: f.items.map((i) => ({ ...i, unitPriceMinor: BigInt(i.unitPriceMinor) })),
    });
    client.makeUnaryRequest(path, serialize, deserialize, message, callback);
  };
  close = () => client.close();
}

// Connect first (not measured), like the generator does.
await new Promise((resolve, reject) => {
  call(0, (error) => (error ? reject(error) : resolve()));
});

let issued = 0;
let completed = 0;
let errors = 0;
const cpuStart = process.cpuUsage();
const start = performance.now();
await new Promise((resolve) => {
  const next = () => {
    issued += 1;
    call(issued, (error) => {
      if (error) errors += 1;
      completed += 1;
      if (issued < count) next();
      else if (completed === count) resolve();
    });
  };
  for (let i = 0; i < concurrency && issued < count; i++) next();
});
const wallMs = performance.now() - start;
const cpu = process.cpuUsage(cpuStart);
close();
const cpuUs = cpu.user + cpu.system;
process.stdout.write(
  `${JSON.stringify({ variant, calls: completed, errors, wall_ms: Math.round(wallMs), cpu_us: cpuUs, cpu_per_call_us: Math.round((cpuUs / completed) * 10) / 10, rps: Math.round((completed * 1000) / wallMs) })}\n`,
);
