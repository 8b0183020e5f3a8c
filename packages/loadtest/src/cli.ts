#!/usr/bin/env node
import { randomInt } from "node:crypto";
import { readFileSync, writeFileSync } from "node:fs";
import { basename } from "node:path";
import { Command, InvalidArgumentError, Option } from "commander";
import { renderHtmlReport } from "./html-report.js";
import { DEFAULT_MIX_TEXT, makeMix, parseMixWeights, parseRate } from "./mix.js";
import { parseDuration, parsePositiveInt, parsePositiveNumber } from "./options.js";
import type { Report } from "./report.js";
import { formatProgress, formatText } from "./report-text.js";
import { type LoadOptions, runLoad } from "./run.js";
import { type LoadSecurity, loadSecurity, SECURITY_ENV, securitySettingsFromEnv } from "./security.js";
import { parseSlo } from "./slo.js";

/** Exit codes: 0 done (and every SLO met), 1 an SLO was missed, 2 bad usage or the run could not be made. */
const EXIT_SLO_MISSED = 1;
const EXIT_FAILED = 2;

const wrap =
  <T>(parse: (text: string) => T) =>
  (text: string): T => {
    try {
      return parse(text);
    } catch (error) {
      throw new InvalidArgumentError((error as Error).message);
    }
  };

/** An option whose value is parsed (a value it rejects is a usage error), with its default if it has one. */
function parsed<T>(flags: string, description: string, parse: (text: string) => T, fallback?: T, label?: string) {
  const option = new Option(flags, description).argParser(wrap(parse));
  return fallback === undefined ? option : option.default(fallback, label);
}

const program = new Command("loadtest")
  .description(
    "Load generator for the Orderly CommandService: open loop (--rate, latency from the intended send time) or closed loop (--concurrency).",
  )
  .option("-a, --address <host:port>", "CommandService address", process.env.COMMAND_ADDRESS ?? "127.0.0.1:50051")
  .addOption(parsed("-r, --rate <calls/s>", "open loop: fixed arrival rate", (t) => parsePositiveNumber(t, "rate")))
  .addOption(
    parsed("-c, --concurrency <n>", "closed loop: calls in flight (default 16 when no --rate)", (t) =>
      parsePositiveInt(t, "concurrency"),
    ),
  )
  .addOption(parsed("-d, --duration <time>", "run for this long, e.g. 30s, 2m (default 10s)", (t) => parseDuration(t)))
  .addOption(parsed("-n, --count <n>", "make exactly this many command calls", (t) => parsePositiveInt(t, "count")))
  .addOption(
    parsed(
      "--timeout <time>",
      "per-call deadline (0 = none)",
      (t) => (t.trim() === "0" ? 0 : parseDuration(t, "timeout")),
      20_000,
      "20s",
    ),
  )
  .option("--grpc-deadline", "send --timeout as a gRPC deadline on every command (costs grpc-js a timer per call)")
  .addOption(
    parsed(
      "--max-in-flight <n>",
      "open loop: cap on calls in flight (later sends wait and count as late)",
      (t) => parsePositiveInt(t, "max-in-flight"),
      1000,
    ),
  )
  .addOption(
    parsed(
      "--connections <n>",
      "HTTP/2 connections to spread calls over",
      (t) => parsePositiveInt(t, "connections"),
      1,
    ),
  )
  .option("--mix <weights>", "relative weights of fresh commands", DEFAULT_MIX_TEXT)
  .option("--create-only", "only CreateOrder (same as --mix create=1)")
  .addOption(
    parsed(
      "--duplicates <rate>",
      "share of calls replaying an accepted request (same key, same bytes), e.g. 2%",
      (t) => parseRate(t, "duplicate rate"),
      0,
    ),
  )
  .addOption(
    parsed(
      "--conflicts <rate>",
      "share of calls with a stale expected_version (expect ABORTED), e.g. 1%",
      (t) => parseRate(t, "conflict rate"),
      0,
    ),
  )
  .addOption(
    parsed(
      "--ryw-rate <rate>",
      "share of accepted commands followed by GetOrderSummary(min_position)",
      (t) => parseRate(t, "ryw rate"),
      0,
    ),
  )
  .option(
    "--query-address <host:port>",
    "QueryService address for --ryw-rate",
    process.env.QUERY_ADDRESS ?? "127.0.0.1:50052",
  )
  .addOption(parsed("--customers <n>", "distinct customer ids", (t) => parsePositiveInt(t, "customers"), 1000))
  .addOption(parsed("--seed <n>", "random seed (reproducible mix)", (t) => parsePositiveInt(t, "seed")))
  .addOption(
    parsed(
      "--late-threshold <time>",
      "open loop: a send this much after its intended time is late",
      (t) => parseDuration(t, "late threshold"),
      5,
      "5ms",
    ),
  )
  .addOption(parsed("--slo <checks>", "exit 1 unless met, e.g. p99<25ms,errors<0.1%,ryw_p99<50ms", parseSlo))
  .addOption(
    parsed(
      "--connect-timeout <time>",
      "give up when the server is not reachable",
      (t) => parseDuration(t, "connect timeout"),
      10_000,
      "10s",
    ),
  )
  .option("--tls", "connect with TLS (implied by --ca, --cert, --key, --server-name); the system's roots without --ca")
  .option("--ca <file>", `CA certificate (PEM) that signed the servers' certificates [$${SECURITY_ENV.caFile}]`)
  .option("--cert <file>", `client certificate (PEM) for mTLS, with --key [$${SECURITY_ENV.certFile}]`)
  .option("--key <file>", `the client certificate's key (PEM) [$${SECURITY_ENV.keyFile}]`)
  .option(
    "--server-name <name>",
    `name the servers' certificates must carry, when not the address's host [$${SECURITY_ENV.serverName}]`,
  )
  .option(
    "--token-file <file>",
    `bearer token (JWT) sent on every call; the file is re-read when it changes [$${SECURITY_ENV.tokenFile}; or the token itself in $${SECURITY_ENV.token}]`,
  )
  .option("--json", "print the report as one JSON object on stdout")
  .option(
    "--metrics <urls>",
    "comma-separated /metrics URLs of the services: sample their read-model lag each second (drawn by --html)",
  )
  .option("--html <file>", "also write the report as one self-contained HTML page with charts")
  .option("--compare <report.json>", "with --html: draw a previous run's --json report over this one")
  .option("--from-json <report.json>", "make no calls: render a saved --json report (with --html, or as text)")
  .option("--no-progress", "no progress bar (it is shown only when stderr is a terminal)")
  .showHelpAfterError()
  // Usage errors exit 2 (1 is reserved for a missed SLO); --help and --version exit 0.
  .exitOverride((error) => process.exit(error.exitCode === 0 ? 0 : EXIT_FAILED));

interface CliOptions {
  address: string;
  rate?: number;
  concurrency?: number;
  duration?: number;
  count?: number;
  timeout: number;
  grpcDeadline?: boolean;
  maxInFlight: number;
  connections: number;
  mix: string;
  createOnly?: boolean;
  duplicates: number;
  conflicts: number;
  rywRate: number;
  queryAddress: string;
  customers: number;
  seed?: number;
  lateThreshold: number;
  slo?: ReturnType<typeof parseSlo>;
  connectTimeout: number;
  json?: boolean;
  html?: string;
  metrics?: string;
  compare?: string;
  fromJson?: string;
  progress: boolean;
  tls?: boolean;
  ca?: string;
  cert?: string;
  key?: string;
  serverName?: string;
  tokenFile?: string;
}

/**
 * grpc-js sends the address's host as the TLS server name even when it is an IP address, which Node warns about once
 * (DEP0123: RFC 6066 allows only host names there). The certificate is still checked against the IP (its IP SAN), so
 * the warning tells the user nothing to act on: drop that one, print every other warning as Node would.
 */
function quietIpServerNameWarning(): void {
  process.removeAllListeners("warning");
  process.on("warning", (warning: Error & { code?: string }) => {
    if (warning.code === "DEP0123") return;
    process.stderr.write(`(node:${process.pid}) ${warning.name}: ${warning.message}\n`);
  });
}

/** Reads a `--json` report: the whole file, or its last non-empty line (a captured stdout with other output). */
function readReport(file: string): Report {
  const text = readFileSync(file, "utf8");
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    const last =
      text
        .trim()
        .split("\n")
        .filter((l) => l.trim() !== "")
        .at(-1) ?? "";
    try {
      value = JSON.parse(last);
    } catch {
      throw new Error(`${file}: not a JSON report of pnpm loadtest --json`);
    }
  }
  if ((value as Partial<Report> | null)?.tool !== "orderly-loadtest") {
    throw new Error(`${file}: not a report of orderly-loadtest (no "tool": "orderly-loadtest")`);
  }
  return value as Report;
}

async function main(): Promise<number> {
  program.parse(process.argv);
  const o = program.opts<CliOptions>();
  if (o.rate !== undefined && o.concurrency !== undefined) {
    program.error("give --rate (open loop) or --concurrency (closed loop), not both", { exitCode: EXIT_FAILED });
  }
  if (o.duration !== undefined && o.count !== undefined) {
    program.error("give --duration or --count, not both", { exitCode: EXIT_FAILED });
  }
  if (o.compare !== undefined && o.html === undefined) {
    program.error("--compare draws onto the HTML report: give --html <file> too", { exitCode: EXIT_FAILED });
  }
  const compare = o.compare !== undefined ? readReport(o.compare) : undefined;
  const writeHtml = (report: Report) => {
    if (o.html === undefined) return;
    const label = o.compare !== undefined ? `before: ${basename(o.compare)}` : undefined;
    writeFileSync(
      o.html,
      renderHtmlReport(report, compare ? { compare, ...(label ? { compareLabel: label } : {}) } : {}),
    );
    process.stderr.write(`wrote ${o.html}\n`);
  };
  if (o.fromJson !== undefined) {
    const saved = readReport(o.fromJson);
    writeHtml(saved);
    if (o.html === undefined) process.stdout.write(o.json ? `${JSON.stringify(saved)}\n` : formatText(saved));
    return 0;
  }
  const showProgress = o.progress && process.stderr.isTTY === true;
  const report = await runLoad(loadOptions(o, stopOnSignals(), showProgress));
  if (showProgress) process.stderr.write("\r\u001b[K");
  process.stdout.write(o.json ? `${JSON.stringify(report)}\n` : formatText(report));
  writeHtml(report);
  return report.slo && !report.slo.passed ? EXIT_SLO_MISSED : 0;
}

/** Flags win over the environment (the variables @orderly/client reads). */
function security(o: CliOptions): LoadSecurity | undefined {
  // The token itself only ever comes from the environment or a file (a token on the command line would show in
  // `ps` and in the report's `command`).
  const fromEnv = securitySettingsFromEnv(process.env);
  quietIpServerNameWarning();
  return loadSecurity({
    tls: o.tls,
    caFile: o.ca ?? fromEnv.caFile,
    certFile: o.cert ?? fromEnv.certFile,
    keyFile: o.key ?? fromEnv.keyFile,
    serverName: o.serverName ?? fromEnv.serverName,
    tokenFile: o.tokenFile ?? fromEnv.tokenFile,
    token: o.tokenFile !== undefined ? undefined : fromEnv.token,
  });
}

/** The first Ctrl-C (or SIGTERM) stops issuing calls and lets those in flight finish; the second quits at once. */
function stopOnSignals(): AbortSignal {
  const abort = new AbortController();
  let interrupted = 0;
  const onSignal = () => {
    interrupted += 1;
    if (interrupted > 1) process.exit(130);
    process.stderr.write("\nstopping: waiting for calls in flight (Ctrl-C again to quit now)\n");
    abort.abort();
  };
  process.on("SIGINT", onSignal);
  process.on("SIGTERM", onSignal);
  return abort.signal;
}

function loadOptions(o: CliOptions, signal: AbortSignal, showProgress: boolean): LoadOptions {
  const mix = makeMix(parseMixWeights(o.createOnly ? "create=1" : o.mix), o.duplicates, o.conflicts);
  const tls = security(o);
  return {
    address: o.address,
    mode: o.rate !== undefined ? "open" : "closed",
    ...(o.rate !== undefined ? { rate: o.rate } : { concurrency: o.concurrency ?? 16 }),
    ...(o.count !== undefined ? { count: o.count } : { durationMs: o.duration ?? 10_000 }),
    timeoutMs: o.timeout,
    grpcDeadline: o.grpcDeadline === true,
    maxInFlight: o.maxInFlight,
    connections: o.connections,
    mix,
    rywRate: o.rywRate,
    queryAddress: o.queryAddress,
    ...(tls ? { security: tls } : {}),
    seed: o.seed ?? randomInt(1, 2 ** 31),
    customers: o.customers,
    lateThresholdMs: o.lateThreshold,
    slo: o.slo ?? [],
    connectTimeoutMs: o.connectTimeout,
    signal,
    command: ["pnpm loadtest", ...process.argv.slice(2)].join(" "),
    ...(o.metrics
      ? {
          metricsUrls: o.metrics
            .split(",")
            .map((u) => u.trim())
            .filter(Boolean),
        }
      : {}),
    ...(showProgress
      ? { onProgress: (p) => process.stderr.write(`\r${formatProgress(p)}\u001b[K`), progressIntervalMs: 200 }
      : {}),
  };
}

main().then(
  (code) => {
    process.exitCode = code;
  },
  (error: unknown) => {
    process.stderr.write(`loadtest: ${error instanceof Error ? error.message : String(error)}\n`);
    process.exitCode = EXIT_FAILED;
  },
);
