// ADR 0001: @grpc/grpc-js (protobuf-es types, our binding) vs @connectrpc/connect-node (gRPC protocol), a minimal
// unary echo under the same load, in one run. Each server runs in its own process; a separate load process keeps
// many calls in flight; the server's CPU per call comes from its own process.cpuUsage() over the measured window.
// Usage: node bench/server-stack.mjs [--seconds 5] [--warmup 2] [--warmup-calls 5000] [--in-flight 64] [--rounds 2]
// Prints one JSON object of figures.
import { spawn } from "node:child_process";
import { once } from "node:events";
import { dirname, join } from "node:path";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";
import { benchArgs } from "../../../scripts/bench-args.mjs";

const here = dirname(fileURLToPath(import.meta.url));
const values = benchArgs({ seconds: "5", warmup: "2", "in-flight": "64", rounds: "2", "warmup-calls": "5000" });
const measureMs = Number(values.seconds) * 1000;
const warmupMs = Number(values.warmup) * 1000;
const inFlight = Number(values["in-flight"]);
const rounds = Number(values.rounds);
const warmupCalls = Number(values["warmup-calls"]);
const stacks = ["grpc-js", "connect-node"];

function start(script, args) {
  const child = spawn(process.execPath, [join(here, script), ...args], { stdio: ["pipe", "pipe", "inherit"] });
  const lines = createInterface({ input: child.stdout });
  const queue = [];
  const waiters = [];
  lines.on("line", (line) => {
    const waiter = waiters.shift();
    if (waiter) waiter(line);
    else queue.push(line);
  });
  const exited = once(child, "exit");
  return {
    child,
    exited,
    nextLine: () =>
      queue.length > 0
        ? Promise.resolve(queue.shift())
        : Promise.race([
            new Promise((resolve) => waiters.push(resolve)),
            exited.then(([code]) => {
              throw new Error(`${script} exited (${code}) early`);
            }),
          ]),
  };
}

async function measure(stack) {
  const server = start("echo-server.mjs", [stack]);
  const port = Number((await server.nextLine()).replace(/^port /, ""));
  const load = start("load.mjs", [
    String(port),
    String(inFlight),
    String(warmupMs),
    String(measureMs),
    String(warmupCalls),
  ]);
  if ((await load.nextLine()) !== "measuring") throw new Error("load did not start measuring");
  server.child.stdin.write("start\n");
  const loadResult = JSON.parse(await load.nextLine());
  server.child.stdin.write("stop\n");
  const serverResult = JSON.parse(await server.nextLine());
  server.child.stdin.end();
  await Promise.all([load.exited, server.exited]);
  const serverCpuMs = serverResult.cpuUserMs + serverResult.cpuSystemMs;
  return {
    rps: loadResult.calls / (loadResult.ms / 1000),
    errors: loadResult.errors,
    serverCpuMsPerCall: serverCpuMs / serverResult.calls,
    serverCpuPercent: (100 * serverCpuMs) / serverResult.ms,
    loadCpuMsPerCall: loadResult.cpuMs / loadResult.calls,
  };
}

const samples = Object.fromEntries(stacks.map((s) => [s, []]));
for (let round = 0; round < rounds; round++) {
  // Alternate the order so neither stack always runs on a warmer (or busier) machine.
  for (const stack of round % 2 === 0 ? stacks : [...stacks].reverse()) samples[stack].push(await measure(stack));
}
const median = (xs) => {
  const sorted = [...xs].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
};
const round3 = (x) => Math.round(x * 1000) / 1000;
const summary = {};
for (const stack of stacks) {
  const s = samples[stack];
  summary[stack] = {
    rps: Math.round(median(s.map((x) => x.rps))),
    serverCpuMsPerCall: round3(median(s.map((x) => x.serverCpuMsPerCall))),
    serverCpuPercent: Math.round(median(s.map((x) => x.serverCpuPercent))),
    loadCpuMsPerCall: round3(median(s.map((x) => x.loadCpuMsPerCall))),
    errors: s.reduce((n, x) => n + x.errors, 0),
    rpsPerRound: s.map((x) => Math.round(x.rps)),
  };
}
const grpcJs = summary["grpc-js"];
const connect = summary["connect-node"];
process.stdout.write(
  `${JSON.stringify({
    benchmark: "server-stack unary echo (ADR 0001)",
    inFlight,
    warmupSeconds: warmupMs / 1000,
    warmupCalls,
    measureSeconds: measureMs / 1000,
    rounds,
    node: process.version,
    ...summary,
    ratio: {
      rpsGrpcJsOverConnect: round3(grpcJs.rps / connect.rps),
      cpuPerCallConnectOverGrpcJs: round3(connect.serverCpuMsPerCall / grpcJs.serverCpuMsPerCall),
    },
  })}\n`,
);
