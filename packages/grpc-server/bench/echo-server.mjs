// One echo server for the ADR 0001 benchmark: `node echo-server.mjs grpc-js|connect-node`.
// Serves CommandService.CancelOrder as a minimal unary echo (order_id in, order_id out), prints `port <n>`, then
// answers the orchestrator on stdin: `start` resets the window, `stop` prints {calls, cpuUserMs, cpuSystemMs, ms}.
import { createServer } from "node:http2";
import { createInterface } from "node:readline";
import { create } from "@bufbuild/protobuf";
import { connectNodeAdapter } from "@connectrpc/connect-node";
import { CancelOrderResponseSchema, CommandService } from "@orderly/contracts";
import pino from "pino";
import { GrpcServer } from "../dist/index.js";

const stack = process.argv[2];
let calls = 0;
const echo = (request) => {
  calls++;
  return create(CancelOrderResponseSchema, {
    accepted: { orderId: request.orderId, commandId: request.idempotencyKey },
  });
};
const notUsed = () => {
  throw new Error("not used by the benchmark");
};
const implementation = { cancelOrder: echo, createOrder: notUsed, updatePaymentStatus: notUsed, shipOrder: notUsed };

let port;
if (stack === "grpc-js") {
  const server = new GrpcServer({ name: "bench", logger: pino({ level: "silent" }), reflection: false });
  server.addService(CommandService, implementation);
  port = await server.listen(0, "127.0.0.1");
} else if (stack === "connect-node") {
  const handler = connectNodeAdapter({
    routes: (router) => router.service(CommandService, implementation),
    grpc: true,
    grpcWeb: false,
    connect: false,
    readMaxBytes: 1024 * 1024,
  });
  const server = createServer(handler);
  await new Promise((resolve) => server.listen(0, "127.0.0.1", resolve));
  port = server.address().port;
} else {
  throw new Error(`unknown stack ${stack} (grpc-js or connect-node)`);
}

let window;
const lines = createInterface({ input: process.stdin });
lines.on("line", (line) => {
  if (line === "start") {
    window = { calls, cpu: process.cpuUsage(), at: process.hrtime.bigint() };
  } else if (line === "stop" && window) {
    const cpu = process.cpuUsage(window.cpu);
    const ms = Number(process.hrtime.bigint() - window.at) / 1e6;
    process.stdout.write(
      `${JSON.stringify({ calls: calls - window.calls, cpuUserMs: cpu.user / 1000, cpuSystemMs: cpu.system / 1000, ms })}\n`,
    );
  }
});
lines.on("close", () => process.exit(0));
process.stdout.write(`port ${port}\n`);
