// How hard the fault suite pushes. CI runs the short profile (a few minutes); the long one is for a release or a
// change to the write path, the relay or the projectors:
//   ORDERLY_FAULTS_PROFILE=long pnpm --filter @orderly/e2e test faults

export interface FaultProfile {
  readonly name: "short" | "long";
  /** Open-loop arrival rate of the load generator (commands/s). */
  readonly rate: number;
  /** The fault comes `faultAtMs` into the load; the load goes on `tailMs` after the stack recovered from it. */
  readonly faultAtMs: number;
  readonly tailMs: number;
  /** How long the stack may take to serve again after a fault is lifted. */
  readonly recoverTimeoutMs: number;
  /** How long a server stays down. */
  readonly downMs: number;
  /** How long a process stays stopped with SIGSTOP: longer than the ack wait. */
  readonly pauseMs: number;
  /** JetStream ack wait of the projectors' consumers: a SIGSTOP lasts longer than it. */
  readonly ackWaitMs: number;
  /** Per-call timeout of the generator: a call without an answer by then is "unknown". */
  readonly callTimeoutMs: number;
}

const profiles: Record<FaultProfile["name"], FaultProfile> = {
  short: {
    name: "short",
    rate: 120,
    faultAtMs: 2_500,
    tailMs: 2_500,
    recoverTimeoutMs: 60_000,
    downMs: 3_000,
    pauseMs: 3_500,
    ackWaitMs: 2_000,
    callTimeoutMs: 5_000,
  },
  long: {
    name: "long",
    rate: 400,
    faultAtMs: 20_000,
    tailMs: 30_000,
    recoverTimeoutMs: 180_000,
    downMs: 15_000,
    pauseMs: 65_000,
    ackWaitMs: 60_000,
    callTimeoutMs: 10_000,
  },
};

export function faultProfile(env: Record<string, string | undefined> = process.env): FaultProfile {
  const name = env.ORDERLY_FAULTS_PROFILE?.trim() || "short";
  const profile = profiles[name as FaultProfile["name"]];
  if (!profile) throw new Error(`ORDERLY_FAULTS_PROFILE=${JSON.stringify(name)}: use short (default) or long`);
  return profile;
}
