import { type ChildProcess, spawn } from "node:child_process";
import { createInterface } from "node:readline";
import { setTimeout as sleep } from "node:timers/promises";
import type { Logger } from "@orderly/observability";
import type { ServiceSpec } from "./services.js";

const colours = [36, 35, 33, 32, 34, 91, 96, 95];

export interface SupervisorOptions {
  readonly logger: Logger;
  /** Environment of every child (METRICS_PORT is set per child). */
  readonly env: Record<string, string | undefined>;
  /** Colour the `[name]` prefixes. */
  readonly colour: boolean;
  /** Called once if a child exits when nobody asked it to. */
  readonly onUnexpectedExit: (service: ServiceSpec, code: number | null, signal: NodeJS.Signals | null) => void;
  /** Where prefixed lines go (default process.stdout / process.stderr). */
  readonly stdout?: NodeJS.WritableStream;
  readonly stderr?: NodeJS.WritableStream;
}

interface Running {
  readonly service: ServiceSpec;
  readonly child: ChildProcess;
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  done: boolean;
}

/** Runs the services as children with prefixed output; never restarts one; stops them all together. */
export class Supervisor {
  private readonly running: Running[] = [];
  private stopping = false;

  constructor(private readonly options: SupervisorOptions) {}

  start(service: ServiceSpec): void {
    const env: Record<string, string | undefined> = { ...this.options.env };
    delete env.METRICS_PORT;
    if (service.metricsPort !== undefined) env.METRICS_PORT = String(service.metricsPort);
    // Own process group: a Ctrl-C in the terminal reaches only the stack, which then stops the children itself (so a
    // child never exits before the stack knows a stop was asked for, and none is left behind half-stopped).
    const child = spawn(process.execPath, [service.entry], { env, stdio: ["ignore", "pipe", "pipe"], detached: true });
    const prefix = this.prefix(service.name, this.running.length);
    pipeLines(child.stdout, this.options.stdout ?? process.stdout, prefix);
    pipeLines(child.stderr, this.options.stderr ?? process.stderr, prefix);
    const entry: Running = {
      service,
      child,
      done: false,
      exited: new Promise((resolve) => {
        child.once("exit", (code, signal) => resolve({ code, signal }));
        child.once("error", (error) => {
          this.options.logger.error({ err: error, service: service.name }, "could not start");
          resolve({ code: -1, signal: null });
        });
      }),
    };
    this.running.push(entry);
    void entry.exited.then(({ code, signal }) => {
      entry.done = true;
      if (this.stopping) {
        this.options.logger.info({ service: service.name, code, signal }, `${service.name} stopped`);
      } else {
        this.options.onUnexpectedExit(service, code, signal);
      }
    });
    this.options.logger.info(
      { service: service.name, childPid: child.pid, metricsPort: service.metricsPort },
      `started ${service.name}`,
    );
  }

  /** Last resort when the stack itself exits: SIGKILL whatever still runs (synchronous, for process 'exit'). */
  killAll(): void {
    for (const r of this.running) if (!r.done) r.child.kill("SIGKILL");
  }

  /** True while no child has exited. */
  allRunning(): boolean {
    return this.running.every((r) => !r.done);
  }

  /**
   * SIGTERM to every child, then SIGKILL to those still running after `timeoutMs`. Resolves true when every child
   * stopped by itself with exit code 0 (or by the SIGTERM), false otherwise.
   */
  async stopAll(timeoutMs: number): Promise<boolean> {
    this.stopping = true;
    const results = await Promise.all(
      this.running.map(async (r) => {
        if (!r.done) r.child.kill("SIGTERM");
        let killed = false;
        const timer = setTimeout(() => {
          if (r.done) return;
          killed = true;
          this.options.logger.error(
            { service: r.service.name, timeoutMs },
            `${r.service.name} did not stop within ${timeoutMs} ms: SIGKILL`,
          );
          r.child.kill("SIGKILL");
        }, timeoutMs);
        const { code, signal } = await r.exited;
        clearTimeout(timer);
        return !killed && (code === 0 || signal === "SIGTERM" || signal === "SIGINT");
      }),
    );
    return results.every(Boolean);
  }

  private prefix(name: string, index: number): string {
    const label = `[${name}]`;
    return this.options.colour ? `\u001b[${colours[index % colours.length]}m${label}\u001b[0m ` : `${label} `;
  }
}

function pipeLines(from: NodeJS.ReadableStream | null, to: NodeJS.WritableStream, prefix: string): void {
  if (!from) return;
  createInterface({ input: from, crlfDelay: Number.POSITIVE_INFINITY }).on("line", (line) => {
    to.write(`${prefix}${line}\n`);
  });
}

/** Polls `url` until it answers 200, `isAlive()` turns false, or the timeout passes. */
export async function waitUntilReady(url: string, timeoutMs: number, isAlive: () => boolean): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline && isAlive()) {
    try {
      const response = await fetch(url, { signal: AbortSignal.timeout(2_000) });
      await response.arrayBuffer();
      if (response.status === 200) return true;
    } catch {
      // not listening yet
    }
    await sleep(200);
  }
  return false;
}
