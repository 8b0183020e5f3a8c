import { execFileSync } from "node:child_process";

/** Postgres refuses to run as root: then it runs as this user (Debian's packages create it), owning its data. */
export const postgresOsUser = "postgres";

/** Postgres refuses to run as root: when we are root it runs as Debian's \`postgres\` user (its ids), else as us. */
export function postgresRunAs(): { uid: number; gid: number } | undefined {
  return process.getuid?.() === 0 ? osUser(postgresOsUser) : undefined;
}

/** The uid and gid of OS user `name`; throws, saying what to do, when there is none. */
export function osUser(name: string): { uid: number; gid: number } {
  try {
    const id = (flag: string) =>
      execFileSync("id", [flag, name], { encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] });
    const uid = Number(id("-u").trim());
    const gid = Number(id("-g").trim());
    return { uid, gid };
  } catch {
    throw new Error(
      `Postgres refuses to run as root, and there is no user "${name}" to run it as: create one ` +
        `(useradd --system ${name}) or run \`pnpm start\` as an ordinary user`,
    );
  }
}
