// Figure (issue 7): the load generator's CPU per call against a no-op gRPC server must be no more than that of a
// plain @grpc/grpc-js client loop making the same calls. One run measures both, alternating rounds, every client in
// its own process and the no-op server in another; the median round of each is compared.
//   node bench/generator-overhead.mjs [--calls 60000] [--concurrency 64] [--rounds 3]
// Each client's CPU is counted from its first call, JIT warm-up included: 60,000 calls a round amortise it (at 20,000
// the generator, with more code to optimise, read 1.07–1.11× on the noisy host of session 3, and 0.88–0.97× at 60,000).
// Also the per-call work of both without the network (bench/per-call-work.mjs). Prints a human summary on stderr and
// one JSON object on the last stdout line.
import { spawn } from "node:child_process";
import { once } from "node:events";
import { cpus } from "node:os";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";

const { values } = parseArgs({
  options: {
    calls: { type: "string", default: "60000" },
    concurrency: { type: "string", default: "64" },
    rounds: { type: "string", default: "3" },
    rate: { type: "string" },
  },
});
const calls = Number(values.calls);
const concurrency = Number(values.concurrency);
const rounds = Number(values.rounds);
const here = (p) => fileURLToPath(new URL(p, import.meta.url));

function run(args) {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, args, { stdio: ["ignore", "pipe", "inherit"] });
    let out = "";
    child.stdout.on("data", (d) => {
      out += d;
    });
    child.once("error", reject);
    child.once("exit", (code) => {
      const last = out.trim().split("\n").at(-1) ?? "";
      if (code !== 0) reject(new Error(`${args.join(" ")} exited ${code}: ${out.slice(-500)}`));
      else resolve(JSON.parse(last));
    });
  });
}

const server = spawn(process.execPath, [here("./noop-server.mjs"), "0"], { stdio: ["ignore", "pipe", "inherit"] });
const [line] = await once(server.stdout, "data");
const port = Number(/port (\d+)/.exec(String(line))?.[1]);
const address = `127.0.0.1:${port}`;
const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)];
};

const samples = { plain: [], plainEs: [], generator: [] };
const rps = { plain: [], plainEs: [], generator: [] };
try {
  for (let round = 1; round <= rounds; round++) {
    const plain = await run([here("./plain-client.mjs"), address, String(concurrency), String(calls), "proto-loader"]);
    const plainEs = await run([here("./plain-client.mjs"), address, String(concurrency), String(calls), "protobuf-es"]);
    const gen = await run([
      here("../dist/cli.js"),
      "--address",
      address,
      "--create-only",
      "--concurrency",
      String(concurrency),
      "--count",
      String(calls),
      "--json",
      "--no-progress",
    ]);
    samples.plain.push(plain.cpu_per_call_us);
    samples.plainEs.push(plainEs.cpu_per_call_us);
    samples.generator.push(gen.generator.cpu_per_call_us);
    rps.plain.push(plain.rps);
    rps.plainEs.push(plainEs.rps);
    rps.generator.push(gen.rps);
    process.stderr.write(
      `round ${round}: plain grpc-js (proto-loader) ${plain.cpu_per_call_us} µs/call, plain grpc-js (protobuf-es) ${plainEs.cpu_per_call_us} µs/call, generator ${gen.generator.cpu_per_call_us} µs/call\n`,
    );
  }
  // The open loop's own cost (timer-driven sends, late/drop accounting) at half the closed-loop rate, for the record.
  const openRate = values.rate ? Number(values.rate) : Math.max(1, Math.round(median(rps.generator) / 2));
  const open = await run([
    here("../dist/cli.js"),
    "--address",
    address,
    "--create-only",
    "--rate",
    String(openRate),
    "--count",
    String(Math.min(calls, openRate * 10)),
    "--json",
    "--no-progress",
  ]);
  // The generator's own per-call work without the network (CPU-bound, little affected by a busy machine).
  const work = await run([here("./per-call-work.mjs")]);
  const plainMedian = median(samples.plain);
  const plainEsMedian = median(samples.plainEs);
  const genMedian = median(samples.generator);
  const ratio = Math.round((genMedian / plainMedian) * 1000) / 1000;
  const result = {
    bench: "loadtest.generator-overhead",
    calls_per_round: calls,
    concurrency,
    rounds,
    plain_grpc_js_cpu_per_call_us: plainMedian,
    plain_grpc_js_protobuf_es_cpu_per_call_us: plainEsMedian,
    generator_cpu_per_call_us: genMedian,
    ratio_to_plain: ratio,
    ratio_to_plain_protobuf_es: Math.round((genMedian / plainEsMedian) * 1000) / 1000,
    goal: "generator_cpu_per_call_us <= plain_grpc_js_cpu_per_call_us",
    goal_met: genMedian <= plainMedian,
    plain_rps: median(rps.plain),
    generator_rps: median(rps.generator),
    open_loop_rate: openRate,
    open_loop_cpu_per_call_us: open.generator.cpu_per_call_us,
    open_loop_cpu_percent: open.generator.cpu_percent,
    open_loop_late: open.schedule.late,
    plain_proto_loader_work_per_call_us: work.plain_proto_loader_work_per_call_us,
    generator_work_per_call_us: work.generator_work_per_call_us,
    samples,
    cpus: cpus().length,
  };
  process.stderr.write(
    `generator ${genMedian} µs/call vs plain grpc-js ${plainMedian} µs/call: ratio ${ratio} (goal ≤ 1) ${result.goal_met ? "met" : "NOT met"}\n`,
  );
  process.stdout.write(`${JSON.stringify(result)}\n`);
} finally {
  server.kill("SIGTERM");
}
