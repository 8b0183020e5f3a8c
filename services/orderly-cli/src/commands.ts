import type { CliCommand } from "./command.js";
import { devCertsCommand } from "./dev-certs.js";
import { rebuildCommand } from "./rebuild.js";
import { recoverCommand } from "./recover.js";
import { serversCommand } from "./servers.js";
import { statusCommand } from "./status.js";
import { verifyCommand } from "./verify.js";

/** Every subcommand of `pnpm orderly`, in the order `--help` lists them. Add yours here (one file, one line). */
export const commands: readonly CliCommand[] = [
  statusCommand,
  verifyCommand,
  rebuildCommand,
  recoverCommand,
  serversCommand,
  devCertsCommand,
];
