// Child processes of `pnpm bench` (scripts/bench.mjs): each in its own process group, its stderr echoed with a label,
// killed whole on timeout; a benchmark's result is the JSON object on its last stdout line.
import { spawn } from "node:child_process";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

/** The repository root. */
export const root = join(dirname(fileURLToPath(import.meta.url)), "../..");

/**
 * Starts a command in its own process group; `result` resolves with its exit code, stdout, and the tail of stderr
 * (which is also echoed, prefixed). On timeout the whole group is killed.
 */
export function launch(command, argv, { cwd = root, env = process.env, label, timeout }) {
  const started = Date.now();
  const child = spawn(command, argv, { cwd, env, stdio: ["ignore", "pipe", "pipe"], detached: true });
  const result = new Promise((resolve) => {
    let stdout = "";
    let stderr = "";
    let timedOut = false;
    child.stdout.on("data", (d) => {
      stdout += d;
    });
    child.stderr.on("data", (d) => {
      stderr = (stderr + d).slice(-20_000);
      for (const line of String(d).split("\n")) if (line.trim()) process.stderr.write(`  [${label}] ${line}\n`);
    });
    const timer = setTimeout(() => {
      timedOut = true;
      try {
        process.kill(-child.pid, "SIGKILL"); // the bench and everything it started
      } catch {}
    }, timeout);
    child.once("exit", (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, timedOut, stdout, stderr, seconds: Math.round((Date.now() - started) / 100) / 10 });
    });
  });
  return { child, result };
}

export const run = (command, argv, options) => launch(command, argv, options).result;

export function lastJson(stdout) {
  const lines = stdout
    .trim()
    .split("\n")
    .filter((l) => l.trim() !== "");
  const last = lines.at(-1);
  if (!last) throw new Error("printed nothing on stdout");
  try {
    return JSON.parse(last);
  } catch {
    throw new Error(`last stdout line is not JSON: ${last.slice(0, 200)}`);
  }
}
