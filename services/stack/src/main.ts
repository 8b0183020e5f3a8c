import { fileURLToPath } from "node:url";
import { resolveDataDir } from "@orderly/local-servers";
import {
  ConfigError,
  createLogger,
  maskPassword,
  readInteger,
  readLogConfig,
  readStackConfig,
  shutdownOnSignals,
} from "@orderly/observability";
import { OwnServers, parseFlags, usage } from "./own-servers.js";
import { prepare } from "./prepare.js";
import { discoverServices, type ServiceSpec } from "./services.js";
import { Supervisor, waitUntilReady } from "./supervisor.js";

const timeoutProblems: string[] = [];
const STOP_TIMEOUT_MS = readInteger(process.env, "STACK_STOP_TIMEOUT_MS", 15_000, 1, 86_400_000, timeoutProblems);
const READY_TIMEOUT_MS = readInteger(process.env, "STACK_READY_TIMEOUT_MS", 90_000, 1, 86_400_000, timeoutProblems);
if (timeoutProblems.length > 0) {
  process.stderr.write(`\nOrderly cannot start: ${new ConfigError(timeoutProblems).message}\n\n`);
  process.exit(2);
}

const logger = createLogger("stack", readLogConfig(process.env));
const tty = Boolean(process.stdout.isTTY);
const colour = tty && process.env.NO_COLOR === undefined;

const flags = parseFlags(process.argv.slice(2));
if (flags === usage) {
  process.stdout.write(`${usage}\n`);
  process.exit(0);
}
if (typeof flags === "string") {
  process.stderr.write(`\nOrderly cannot start: ${flags}\n\n`);
  process.exit(2);
}

let config: ReturnType<typeof readStackConfig>;
try {
  config = readStackConfig(process.env);
} catch (error) {
  if (!(error instanceof ConfigError)) throw error;
  process.stderr.write(`\nOrderly cannot start: ${error.message}\n\n`);
  process.exit(2);
}

const checkoutRoot = fileURLToPath(new URL("../../../", import.meta.url));
const dataDir = flags.dataDir ?? resolveDataDir(process.env, checkoutRoot);
const ownServers = new OwnServers(dataDir, logger, flags, process.env);

let supervisor: Supervisor | undefined;
let failing = false;

async function fail(reason: string): Promise<never> {
  failing = true;
  logger.fatal(reason);
  process.stderr.write(`\n!!! ${reason}\n!!! stopping every service\n\n`);
  const clean = supervisor ? await supervisor.stopAll(STOP_TIMEOUT_MS) : true;
  if (!clean) logger.error("some services did not stop cleanly");
  await ownServers.stop();
  process.exit(1);
}

shutdownOnSignals(
  async () => {
    const clean = supervisor ? await supervisor.stopAll(STOP_TIMEOUT_MS) : true;
    // The servers go last: the services flush their last writes to them on the way out.
    await ownServers.stop();
    if (!clean) throw new Error("some services did not stop cleanly");
  },
  { logger, timeoutMs: STOP_TIMEOUT_MS + 35_000 },
);

const problems = await ownServers.ensure(config);
if (problems.length > 0) {
  logger.fatal({ problems }, "a dependency is missing");
  process.stderr.write(`\nOrderly cannot start:\n${problems.join("\n")}\n\n`);
  await ownServers.stop();
  process.exit(1);
}
logger.info(
  {
    postgres: maskPassword(config.databaseUrl),
    nats: config.natsUrl,
    redis: config.redisUrl,
    namespace: config.namespace,
  },
  "Postgres, NATS and Redis are reachable",
);

try {
  await prepare(config, logger);
} catch (error) {
  logger.fatal({ err: error }, "preparing the database or the stream failed");
  await ownServers.stop();
  process.exit(1);
}

// ORDERLY_SERVICES_DIR: run the services of another tree (tests use a directory of stand-ins).
const servicesDir = process.env.ORDERLY_SERVICES_DIR?.trim() || fileURLToPath(new URL("../../", import.meta.url));
const services = discoverServices(servicesDir, config, process.env);
if (services.length === 0) {
  await fail(`no built service under ${servicesDir} (run \`pnpm build\`)`);
}

const childEnv: Record<string, string | undefined> = { ...process.env };
if (tty && childEnv.LOG_FORMAT === undefined) {
  // The children write to our pipes, not a terminal: ask them for what a person watching wants.
  childEnv.LOG_FORMAT = "pretty";
  if (colour) childEnv.FORCE_COLOR = "1";
}

supervisor = new Supervisor({
  logger,
  env: childEnv,
  colour,
  onUnexpectedExit: (service: ServiceSpec, code, signal) => {
    if (failing) return;
    void fail(
      `${service.name} exited unexpectedly (${signal ? `signal ${signal}` : `exit code ${code}`}); nothing is restarted`,
    );
  },
});
process.once("exit", () => supervisor?.killAll());
for (const service of services) supervisor.start(service);

const ready = await Promise.all(
  services.map(async (service) => {
    if (service.metricsPort === undefined) return true;
    const ok = await waitUntilReady(
      `http://127.0.0.1:${service.metricsPort}/readyz`,
      READY_TIMEOUT_MS,
      () => supervisor?.allRunning() ?? false,
    );
    return ok;
  }),
);
if (failing) await new Promise(() => {}); // fail() is stopping everything and will exit
const notReady = services.filter((_, i) => !ready[i]).map((s) => s.name);
if (notReady.length > 0) {
  await fail(`${notReady.join(", ")} not ready within ${READY_TIMEOUT_MS} ms`);
}

for (const service of services) {
  const parts = [
    service.grpcPort !== undefined ? `gRPC 127.0.0.1:${service.grpcPort}` : undefined,
    service.metricsPort !== undefined ? `metrics http://127.0.0.1:${service.metricsPort}/metrics` : undefined,
  ].filter(Boolean);
  logger.info(
    { service: service.name, grpcPort: service.grpcPort, metricsPort: service.metricsPort },
    `${service.name}: ${parts.join(" · ")}`,
  );
}
logger.info(
  { services: services.map((s) => s.name) },
  `Orderly is up: ${services.length} services ready (Ctrl-C stops them all)`,
);
