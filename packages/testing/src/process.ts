import { type ChildProcess, spawn } from "node:child_process";
import { freePort } from "@orderly/local-servers/throwaway";

export { freePort };

export interface StartServiceOptions {
  /** Label used in error messages and captured output. */
  readonly name: string;
  /** Path of the script to run with node (e.g. the built `services/x/dist/main.js`). */
  readonly entry: string;
  readonly args?: readonly string[];
  /** Options for node itself, before the entry (e.g. V8 heap flags). */
  readonly nodeArgs?: readonly string[];
  /** Added to process.env (a TestEnvironment's `env` plus ports). */
  readonly env?: Record<string, string>;
  /** Resolved when this URL answers 200 (e.g. `http://127.0.0.1:<metrics port>/readyz`). */
  readonly readyUrl?: string;
  /** Or when a line of stdout/stderr matches. */
  readonly readyLine?: RegExp;
  /** How long to wait for readiness (default 30 s). */
  readonly readyTimeoutMs?: number;
  /** Echo the child's output to the test's stderr (default: only when ORDERLY_TEST_VERBOSE is set). */
  readonly echo?: boolean;
}

export interface RunningService {
  readonly name: string;
  readonly pid: number;
  readonly child: ChildProcess;
  /** Everything the child printed so far (stdout and stderr interleaved). */
  output(): string;
  /** Resolves with the exit code (or signal name) once the child has exited. */
  readonly exited: Promise<number | string>;
  /** Sends a signal (default SIGTERM) and waits for the exit; SIGKILL after `timeoutMs` (default 10 s). */
  stop(signal?: NodeJS.Signals, timeoutMs?: number): Promise<number | string>;
  /** SIGKILL, no grace, and wait for the exit. */
  kill(): Promise<number | string>;
}

const running = new Set<RunningService>();

/** Starts a node process and waits until it is ready. Every started process is killed at exit of the test worker. */
export async function startService(options: StartServiceOptions): Promise<RunningService> {
  const child = spawn(process.execPath, [...(options.nodeArgs ?? []), options.entry, ...(options.args ?? [])], {
    env: { ...process.env, LOG_LEVEL: process.env.LOG_LEVEL ?? "info", ...options.env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let out = "";
  const echo = options.echo ?? Boolean(process.env.ORDERLY_TEST_VERBOSE);
  const onData = (chunk: Buffer) => {
    const text = chunk.toString();
    out += text;
    if (out.length > 2_000_000) out = out.slice(-1_000_000);
    if (echo) process.stderr.write(`[${options.name}] ${text}`);
  };
  child.stdout?.on("data", onData);
  child.stderr?.on("data", onData);
  const exited = new Promise<number | string>((resolve) => {
    child.once("exit", (code, signal) => resolve(code ?? signal ?? "unknown"));
  });
  let exitedYet = false;
  void exited.then(() => {
    exitedYet = true;
  });

  const service: RunningService = {
    name: options.name,
    pid: child.pid ?? -1,
    child,
    output: () => out,
    exited,
    async stop(signal = "SIGTERM", timeoutMs = 10_000) {
      if (!exitedYet) child.kill(signal);
      const timer = setTimeout(() => child.kill("SIGKILL"), timeoutMs);
      try {
        return await exited;
      } finally {
        clearTimeout(timer);
        running.delete(service);
      }
    },
    async kill() {
      if (!exitedYet) child.kill("SIGKILL");
      const code = await exited;
      running.delete(service);
      return code;
    },
  };
  running.add(service);

  const deadline = Date.now() + (options.readyTimeoutMs ?? 30_000);
  while (true) {
    if (exitedYet) {
      throw new Error(`${options.name} exited before it was ready (${await exited}):\n${out.slice(-4000)}`);
    }
    if (options.readyLine?.test(out)) break;
    if (options.readyUrl && (await answers200(options.readyUrl))) break;
    if (!options.readyUrl && !options.readyLine) break;
    if (Date.now() > deadline) {
      await service.kill();
      throw new Error(
        `${options.name} was not ready within ${options.readyTimeoutMs ?? 30_000} ms:\n${out.slice(-4000)}`,
      );
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  return service;
}

/** Whether `url` answers 200 within a second (a readiness probe). */
export async function answers200(url: string): Promise<boolean> {
  try {
    const response = await fetch(url, { signal: AbortSignal.timeout(1_000) });
    await response.arrayBuffer();
    return response.status === 200;
  } catch {
    return false;
  }
}

/** Polls `check` until it returns a truthy value or the timeout passes (then throws with `what`). */
export async function eventually<T>(
  check: () => Promise<T | undefined | false> | T | undefined | false,
  what: string,
  timeoutMs = 30_000,
  intervalMs = 50,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  while (Date.now() < deadline) {
    try {
      const value = await check();
      if (value) return value;
    } catch (error) {
      lastError = error;
    }
    await new Promise((r) => setTimeout(r, intervalMs));
  }
  throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${lastError ? `: ${String(lastError)}` : ""}`);
}

process.once("exit", () => {
  for (const service of running) service.child.kill("SIGKILL");
});

export interface NodeRun {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

export interface RunNodeOptions {
  /** The whole environment of the child (default: this process's). */
  readonly env?: NodeJS.ProcessEnv;
  readonly cwd?: string;
  /** SIGKILL after this long (default: never). */
  readonly timeoutMs?: number;
}

/** Runs a node script to its exit and resolves with its exit code and what it printed (a CLI under test). */
export function runNode(entry: string, args: readonly string[], options: RunNodeOptions = {}): Promise<NodeRun> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [entry, ...args], {
      ...(options.env ? { env: options.env } : {}),
      ...(options.cwd ? { cwd: options.cwd } : {}),
      stdio: ["ignore", "pipe", "pipe"],
    });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d: Buffer) => {
      stdout += d.toString();
    });
    child.stderr.on("data", (d: Buffer) => {
      stderr += d.toString();
    });
    const timer =
      options.timeoutMs === undefined ? undefined : setTimeout(() => child.kill("SIGKILL"), options.timeoutMs);
    child.once("error", reject);
    child.once("exit", (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}
