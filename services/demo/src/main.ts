import {
  type ClientSecurity,
  Code,
  ConnectError,
  createCommandClient,
  createQueryClient,
  readClientSecurity,
  securitySettingsFromEnv,
} from "@orderly/client";
import { ConfigError, readPort, readStackConfig } from "@orderly/observability";
import { runTour, TourFindingError } from "./tour.js";

// The stack's defaults (services/stack), moved by the same variables.
const metricsPorts: readonly { service: string; variable: string; port: number }[] = [
  { service: "command-service", variable: "COMMAND_SERVICE_METRICS_PORT", port: 9401 },
  { service: "query-service", variable: "QUERY_SERVICE_METRICS_PORT", port: 9402 },
  { service: "outbox-relay", variable: "OUTBOX_RELAY_METRICS_PORT", port: 9403 },
  { service: "projector-postgres", variable: "PROJECTOR_POSTGRES_METRICS_PORT", port: 9404 },
  { service: "projector-redis", variable: "PROJECTOR_REDIS_METRICS_PORT", port: 9405 },
];

const print = (line: string) => process.stdout.write(`${line}\n`);

let config: ReturnType<typeof readStackConfig>;
let metricsUrls: { service: string; url: string }[];
// TLS (ORDERLY_CA_FILE, ORDERLY_CLIENT_CERT/KEY, ORDERLY_TLS_SERVER_NAME) and a bearer token (ORDERLY_TOKEN_FILE or
// ORDERLY_TOKEN) for a stack started with TLS and auth on; plaintext without a token when none is set.
let security: ClientSecurity | undefined;
try {
  try {
    security = readClientSecurity(securitySettingsFromEnv(process.env));
  } catch (error) {
    throw new ConfigError([(error as Error).message]);
  }
  config = readStackConfig(process.env);
  metricsUrls = metricsPorts.map((m) => ({
    service: m.service,
    url: `http://127.0.0.1:${readPort(process.env, m.variable, m.port)}/metrics`,
  }));
} catch (error) {
  if (!(error instanceof ConfigError)) throw error;
  process.stderr.write(`\npnpm demo: ${error.message}\n\n`);
  process.exit(2);
}

const scheme = security?.tls ? "https" : "http";
const commandUrl = `${scheme}://127.0.0.1:${config.commandPort}`;
const queryUrl = `${scheme}://127.0.0.1:${config.queryPort}`;
const clientSecurity = {
  ...(security?.tls ? { tls: security.tls } : {}),
  ...(security?.token ? { token: security.token } : {}),
};
const transport = security?.tls ? (security.tls.cert ? "mTLS" : "TLS") : "plaintext";
const bearer = security?.token ? `, bearer token from ${security.tokenSource}` : "";
print(`command service ${commandUrl} · query service ${queryUrl} (${transport}${bearer})`);
try {
  await runTour({
    commands: createCommandClient({ baseUrl: commandUrl, timeoutMs: 10_000, ...clientSecurity }),
    queries: createQueryClient({ baseUrl: queryUrl, timeoutMs: 10_000, ...clientSecurity }),
    print,
    metricsUrls,
    loadtestExample: `pnpm loadtest -a 127.0.0.1:${config.commandPort} -d 10s`,
  });
  print("\nTour done: every step was visible in both read models.");
  // The clients' HTTP/2 sessions would keep the process alive for their idle timeout.
  process.exit(0);
} catch (error) {
  if (error instanceof TourFindingError) {
    process.stderr.write(`\npnpm demo: ${error.message}\n\n`);
    process.exit(1);
  }
  if (error instanceof ConnectError && error.code === Code.Unavailable) {
    process.stderr.write(
      `\npnpm demo: the stack did not answer (${error.rawMessage}). Is \`pnpm start\` running (in another terminal)?\n\n`,
    );
    process.exit(2);
  }
  throw error;
}
