import { type ChildProcess, execFile, spawn } from "node:child_process";
import { chown, mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { promisify } from "node:util";

// The processes of the servers a test owns (see throwaway.ts): spawned with their output kept, stopped by a signal,
// started again with the same arguments; every one still running is killed when the process exits.

export const run = promisify(execFile);

/** How a server goes down: `graceful` (SIGTERM), or `kill` (SIGKILL, as when its machine or container dies). */
export type StopMode = "graceful" | "kill";

/** What every throwaway server offers: it can be stopped in a mode, started again on the same port and folder. */
export interface ThrowawayServer<Mode extends string = StopMode> {
  readonly running: boolean;
  /** Everything the current (or last) process printed. */
  output(): string;
  stop(mode?: Mode): Promise<void>;
  start(): Promise<void>;
  /** Stops in `mode` and starts again on the same port and folder. */
  restart(mode?: Mode): Promise<void>;
  /** Stops the server and removes its folder. */
  close(): Promise<void>;
}

export interface OwnedProcess {
  readonly child: ChildProcess;
  readonly exited: Promise<void>;
  output(): string;
}

const owned = new Set<ChildProcess>();
process.once("exit", () => {
  for (const child of owned) child.kill("SIGKILL");
});

export function spawnOwned(
  command: string,
  args: readonly string[],
  options: { user?: { uid: number; gid: number }; cwd?: string },
): OwnedProcess {
  const child = spawn(command, args, {
    stdio: ["ignore", "pipe", "pipe"],
    ...(options.user ? { uid: options.user.uid, gid: options.user.gid } : {}),
    ...(options.cwd ? { cwd: options.cwd } : {}),
  });
  owned.add(child);
  let out = "";
  const onData = (chunk: Buffer) => {
    out += chunk.toString();
    if (out.length > 1_000_000) out = out.slice(-500_000);
  };
  child.stdout?.on("data", onData);
  child.stderr?.on("data", onData);
  const exited = new Promise<void>((resolve) => {
    child.once("exit", () => {
      owned.delete(child);
      resolve();
    });
    child.once("error", (error) => {
      out += `\n${String(error)}`;
      owned.delete(child);
      resolve();
    });
  });
  return { child, exited, output: () => out };
}

export async function waitForLine(proc: OwnedProcess, line: RegExp, what: string, timeoutMs: number): Promise<void> {
  let exited = false;
  void proc.exited.then(() => {
    exited = true;
  });
  const deadline = Date.now() + timeoutMs;
  while (!line.test(proc.output())) {
    if (exited) throw new Error(`${what} exited before it was ready:\n${proc.output().slice(-3000)}`);
    if (Date.now() > deadline) {
      proc.child.kill("SIGKILL");
      throw new Error(`${what} was not ready within ${timeoutMs} ms:\n${proc.output().slice(-3000)}`);
    }
    await sleep(25);
  }
}

async function signalAndWait(
  proc: OwnedProcess | undefined,
  signal: NodeJS.Signals,
  timeoutMs = 30_000,
): Promise<void> {
  if (!proc || proc.child.exitCode !== null || proc.child.signalCode !== null) return;
  proc.child.kill(signal);
  const timer = setTimeout(() => proc.child.kill("SIGKILL"), timeoutMs);
  try {
    await proc.exited;
  } finally {
    clearTimeout(timer);
  }
}

/**
 * A server process that can be stopped (in one of its `Mode`s, each a signal), started again with the same arguments
 * and restarted: the part every throwaway server shares. `launch` spawns it; `ready` resolves once it serves.
 */
export class RestartableProcess<Mode extends string> {
  #proc: OwnedProcess | undefined;

  constructor(
    private readonly launch: () => OwnedProcess,
    private readonly ready: (proc: OwnedProcess) => Promise<void>,
    private readonly signals: Record<Mode, NodeJS.Signals>,
    private readonly defaultMode: Mode,
  ) {}

  get running(): boolean {
    const proc = this.#proc;
    return proc !== undefined && proc.child.exitCode === null && proc.child.signalCode === null;
  }

  readonly output = (): string => this.#proc?.output() ?? "";

  readonly start = async (): Promise<void> => {
    if (this.running) return;
    this.#proc = this.launch();
    await this.ready(this.#proc);
  };

  readonly stop = (mode: Mode = this.defaultMode): Promise<void> => signalAndWait(this.#proc, this.signals[mode]);

  readonly restart = async (mode: Mode = this.defaultMode): Promise<void> => {
    await this.stop(mode);
    await this.start();
  };
}

const stopSignals: Record<StopMode, NodeJS.Signals> = { graceful: "SIGTERM", kill: "SIGKILL" };

export async function ownedTempDir(prefix: string, user: { uid: number; gid: number } | undefined): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), prefix));
  if (user) await chown(dir, user.uid, user.gid);
  return dir;
}

/** Runs `file` to its end (as `user`, when given); rejects with its output unless it exits 0. */
export async function runAs(
  user: { uid: number; gid: number } | undefined,
  file: string,
  args: string[],
): Promise<void> {
  const proc = spawnOwned(file, args, { user, cwd: tmpdir() });
  await proc.exited;
  if (proc.child.exitCode !== 0) {
    throw new Error(
      `${file} ${args.join(" ")} failed (${proc.child.exitCode ?? proc.child.signalCode}):\n${proc.output()}`,
    );
  }
}

/**
 * A server stopped by a signal (`graceful`: SIGTERM, `kill`: SIGKILL) that serves `url` on `port`, started; `close`
 * kills it and removes `removeOnClose` when given (the server's own folder).
 */
export async function startSignalledServer(
  launch: () => OwnedProcess,
  ready: (proc: OwnedProcess) => Promise<void>,
  port: number,
  url: string,
  removeOnClose: string | undefined,
): Promise<ThrowawayServer & { readonly port: number; readonly url: string }> {
  const server = new RestartableProcess<StopMode>(launch, ready, stopSignals, "graceful");
  await server.start();
  return Object.assign(server, {
    port,
    url,
    async close() {
      await server.stop("kill");
      if (removeOnClose !== undefined) await rm(removeOnClose, { recursive: true, force: true });
    },
  });
}
