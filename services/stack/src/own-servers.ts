import { relative } from "node:path";
import {
  addressOf,
  findInstalledServers,
  listServers,
  provideServers,
  type ServerRecord,
  serverNames,
  stopServers,
} from "@orderly/local-servers";
import { checkDependencies, type Logger, type StackConfig } from "@orderly/observability";

export interface StackFlags {
  /** Leave the servers started by this run up when the stack stops. */
  readonly keepServers: boolean;
  /** Never start own servers: only explain what is missing. */
  readonly noServers: boolean;
  /** The data folder of own servers (default `.orderly/` in the checkout, or ORDERLY_DATA_DIR). */
  readonly dataDir: string | undefined;
}

export const usage = `usage: pnpm start [--keep-servers] [--no-servers] [--data-dir <dir>]
  --keep-servers   leave the Postgres/NATS/Redis that pnpm start started running when it stops
                   (stop them later with \`pnpm orderly servers stop\`)
  --no-servers     never start servers of our own: only say what is missing and how to fix it
  --data-dir <dir> where own servers keep their data (default .orderly/ in the checkout, or ORDERLY_DATA_DIR)`;

/** The stack's command-line flags; a string is the problem with them. */
export function parseFlags(argv: readonly string[]): StackFlags | string {
  let keepServers = false;
  let noServers = false;
  let dataDir: string | undefined;
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    if (arg === "--") continue;
    if (arg === "--help" || arg === "-h") return usage;
    if (arg === "--keep-servers") keepServers = true;
    else if (arg === "--no-servers") noServers = true;
    else if (arg === "--data-dir" && argv[i + 1] !== undefined) dataDir = argv[++i];
    else if (arg?.startsWith("--data-dir=")) dataDir = arg.slice("--data-dir=".length);
    else return `unknown argument ${JSON.stringify(arg)}\n${usage}`;
  }
  return { keepServers, noServers, dataDir };
}

/** The servers of this checkout that this run started (and stops), and those it found running from an earlier one. */
export class OwnServers {
  #started: ServerRecord[] = [];

  constructor(
    private readonly dataDir: string,
    private readonly logger: Logger,
    private readonly flags: StackFlags,
    /** The environment main was started with (ORDERLY_SERVER_PATH, PATH: where the server binaries are). */
    private readonly env: Record<string, string | undefined>,
  ) {}

  /**
   * Checks the dependencies; starts own servers for those installed but not running at a loopback address. Resolves
   * to an empty list when everything is up, else to one paragraph per problem (cause and fix).
   */
  async ensure(config: StackConfig): Promise<string[]> {
    const urls = { Postgres: config.databaseUrl, NATS: config.natsUrl, Redis: config.redisUrl };
    let report = await checkDependencies(config);
    if (!report.ok) {
      const started = Date.now();
      const provided = await provideServers(report, {
        urls,
        installed: findInstalledServers(this.env),
        dataDir: this.dataDir,
        dataDirLabel: this.label(this.dataDir),
        fallback: !this.flags.noServers,
      });
      this.#started = [...provided.started];
      for (const server of provided.started) this.announce(server);
      if (provided.problems.length > 0) return [...provided.problems];
      if (provided.started.length > 0) {
        this.logger.info(
          { servers: provided.started.map((s) => s.kind), ms: Date.now() - started },
          `own servers up in ${Date.now() - started} ms; they stop with the stack${
            this.flags.keepServers ? " unless --keep-servers (given: they stay up)" : " (--keep-servers leaves them up)"
          }`,
        );
      }
      report = await checkDependencies(config);
      if (!report.ok) return [report.message];
    }
    this.noteEarlierServers(urls);
    return [];
  }

  /** Stops what this run started, unless --keep-servers. */
  async stop(): Promise<void> {
    if (this.#started.length === 0) return;
    const started = this.#started;
    this.#started = [];
    if (this.flags.keepServers) {
      this.logger.info(
        { servers: started.map((s) => `${s.kind}@${s.host}:${s.port}`) },
        `left Orderly's own ${started.map((s) => serverNames[s.kind]).join(", ")} running (--keep-servers); ` +
          "`pnpm orderly servers stop` stops them",
      );
      return;
    }
    const results = await stopServers(this.dataDir, { kinds: started.map((s) => s.kind) });
    for (const { record, outcome } of results) {
      this.logger.info(
        { server: record.kind, port: record.port, outcome },
        `${outcome === "stopped" ? "stopped" : outcome} own ${serverNames[record.kind]} on ${record.host}:${record.port} ` +
          `(its data stays in ${this.label(record.dataDir)})`,
      );
    }
  }

  private announce(server: ServerRecord): void {
    const asUser = server.runAs ? `, running as OS user "${server.runAs}" because Postgres refuses to run as root` : "";
    this.logger.info(
      {
        server: server.kind,
        host: server.host,
        port: server.port,
        pid: server.pid,
        dataDir: server.dataDir,
        logFile: server.logFile,
        runAs: server.runAs,
      },
      `started own ${serverNames[server.kind]} on ${server.host}:${server.port} (nothing was listening there): ` +
        `data in ${this.label(server.dataDir)} (${server.newData ? "new" : "kept from an earlier run"}), log ${this.label(server.logFile)}${asUser}`,
    );
  }

  /** Says which dependencies are servers of ours left running by an earlier `--keep-servers` run. */
  private noteEarlierServers(urls: Record<"Postgres" | "NATS" | "Redis", string>): void {
    const mine = new Set(this.#started.map((s) => s.kind));
    for (const server of listServers(this.dataDir)) {
      if (!server.running || mine.has(server.kind)) continue;
      const url = urls[serverNames[server.kind] as "Postgres" | "NATS" | "Redis"];
      const { port } = addressOf(url);
      if (port !== server.port) continue;
      this.logger.info(
        { server: server.kind, port: server.port, dataDir: server.dataDir },
        `using own ${serverNames[server.kind]} on ${server.host}:${server.port}, left running by an earlier ` +
          `run (--keep-servers, or a stack that was killed; data in ${this.label(server.dataDir)}); \`pnpm orderly servers stop\` stops it`,
      );
    }
  }

  private label(path: string): string {
    const rel = relative(process.cwd(), path);
    return rel !== "" && !rel.startsWith("..") ? rel : path;
  }
}
