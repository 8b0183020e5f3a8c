// The generator's own work per call, without the network: building the request and reading the reply, as the
// generator does it (planner + wire-level decode + per-second and per-kind HDR records) and as a plain grpc-js client does it (a
// proto-loader stub's serializer and deserializer on the same kind of request). CPU-bound, so far less noisy than
// the end-to-end comparison on a busy machine. Prints one JSON line.
import { randomUUID } from "node:crypto";
import { create, toBinary } from "@bufbuild/protobuf";
import { CreateOrderResponseSchema } from "@orderly/contracts";
import { CallPlanner, CREATE_ONLY, createRng, LatencyRecorder, PerSecondRecorder } from "../dist/index.js";
import { decodeAccepted } from "../dist/wire.js";
import { loadCommandsProto, requestFields } from "./plain-request.mjs";

const N = Number(process.argv[2] ?? 100_000);
const stub = loadCommandsProto()["orderly.orders.v1.CommandService"].CreateOrder;
const reply = Buffer.from(
  toBinary(
    CreateOrderResponseSchema,
    create(CreateOrderResponseSchema, {
      accepted: { commandId: randomUUID(), orderId: randomUUID(), streamVersion: 1n, position: 123_456n },
    }),
  ),
);

function plain() {
  let sink = 0;
  for (let i = 0; i < N; i++) {
    sink += stub.requestSerialize(requestFields(i)).length + stub.responseDeserialize(reply).accepted.position;
  }
  return sink;
}

const planner = new CallPlanner({ mix: CREATE_ONLY, rng: createRng(1), customers: 1000 });
// The run's clock as the replies see it: 5,000 replies a second, so the per-second buckets roll as in a real run.
let now = 0;
const all = new PerSecondRecorder(now);
const byKind = new LatencyRecorder();
const byKindStatus = new Array(17).fill(0);
function generator() {
  let sink = 0;
  for (let i = 0; i < N; i++) {
    now += 0.2;
    const call = planner.next();
    const accepted = decodeAccepted(reply);
    planner.settle(call, true, accepted.streamVersion);
    all.record(now, 1.234, false);
    byKindStatus[0] += 1;
    byKind.recordMs(1.234);
    sink += call.bytes.length + accepted.position;
  }
  return sink;
}

const cpuPerCall = (f) => {
  const start = process.cpuUsage();
  f();
  const used = process.cpuUsage(start);
  return (used.user + used.system) / N;
};
const samples = { plain: [], generator: [] };
for (let round = 0; round < 4; round++) {
  samples.plain.push(cpuPerCall(plain));
  samples.generator.push(cpuPerCall(generator));
}
// The first round warms the JIT up: the best of the others.
const best = (xs) => Math.round(Math.min(...xs.slice(1)) * 100) / 100;
process.stdout.write(
  `${JSON.stringify({ plain_proto_loader_work_per_call_us: best(samples.plain), generator_work_per_call_us: best(samples.generator) })}\n`,
);
