// The command line of the load benchmarks: every option `--name value`, a string with a default, read once.
import { parseArgs } from "node:util";

/** The options named in `defaults` (name → default string), parsed from this process's arguments. */
export function benchArgs(defaults) {
  const options = Object.fromEntries(
    Object.entries(defaults).map(([name, value]) => [name, { type: "string", default: value }]),
  );
  return parseArgs({ options }).values;
}
