// The load process of the ADR 0001 benchmark:
// `node load.mjs <port> <in flight> <warmup ms> <measure ms> <warmup calls>`.
// A grpc-js client (our protobuf-es binding) keeps <in flight> unary calls outstanding on one channel. The warm-up
// lasts at least <warmup ms> and <warmup calls> (so the JIT has warmed both sides even on a busy machine). Prints
// `measuring` when the warm-up ends and, at the end, {calls, errors, ms, cpuMs} of the measured window.
import * as grpc from "@grpc/grpc-js";
import { CommandService } from "@orderly/contracts";
import { grpcServiceDefinition } from "../dist/index.js";

const [port, inFlight, warmupMs, measureMs, warmupCalls] = process.argv.slice(2).map(Number);
const Client = grpc.makeGenericClientConstructor(grpcServiceDefinition(CommandService), "CommandService");
const client = new Client(`127.0.0.1:${port}`, grpc.credentials.createInsecure());
const request = { idempotencyKey: "bench-key-0001", orderId: "0b8a2f5e-1c1d-4c4e-9a3b-2f6d1e0c9b7a", reason: "echo" };

let phase = "warmup";
let calls = 0;
let errors = 0;
let warmed = 0;
const window = { cpu: undefined, at: 0n, stopAt: Number.POSITIVE_INFINITY };
const warmupUntil = Date.now() + warmupMs;
const call = () =>
  new Promise((resolve) => {
    client.cancelOrder(request, (error) => {
      if (phase === "measure") {
        if (error) errors++;
        else calls++;
      } else if (phase === "warmup" && ++warmed >= warmupCalls && Date.now() >= warmupUntil) {
        phase = "measure";
        window.cpu = process.cpuUsage();
        window.at = process.hrtime.bigint();
        window.stopAt = Date.now() + measureMs;
        process.stdout.write("measuring\n");
      }
      resolve();
    });
  });

const worker = async () => {
  while (Date.now() < window.stopAt) await call();
};
await Promise.all(Array.from({ length: inFlight }, worker));
phase = "done";
const ms = Number(process.hrtime.bigint() - window.at) / 1e6;
const cpu = process.cpuUsage(window.cpu);
process.stdout.write(`${JSON.stringify({ calls, errors, ms, cpuMs: (cpu.user + cpu.system) / 1000 })}\n`);
client.close();
