/** What the generator sends, and how it picks the next call. */

import { seededRandom } from "@orderly/eventsourcing";

export type CommandKind = "create" | "pay" | "ship" | "cancel";
/** A call's kind: a fresh command, an exact replay of an accepted one, or one with a stale expected_version. */
export type CallKind = CommandKind | "duplicate" | "conflict";

export const CALL_KINDS: readonly CallKind[] = ["create", "pay", "ship", "cancel", "duplicate", "conflict"];

export interface Mix {
  /** Relative weights of the fresh commands (need not sum to 1). */
  readonly weights: Readonly<Record<CommandKind, number>>;
  /** Share of all calls that replay an accepted request (same key, same bytes): expect OK with duplicate = true. */
  readonly duplicateRate: number;
  /** Share of all calls sent with a stale expected_version: expect ABORTED. */
  readonly conflictRate: number;
}

export const CREATE_ONLY: Mix = {
  weights: { create: 1, pay: 0, ship: 0, cancel: 0 },
  duplicateRate: 0,
  conflictRate: 0,
};

/** The default "realistic" mix: most orders get paid, most paid orders ship, a few are cancelled. */
export const DEFAULT_MIX_TEXT = "create=40,pay=35,ship=20,cancel=5";

/** Parses `create=40,pay=35,ship=20,cancel=5` (missing kinds weigh 0). */
export function parseMixWeights(text: string): Record<CommandKind, number> {
  const weights: Record<CommandKind, number> = { create: 0, pay: 0, ship: 0, cancel: 0 };
  for (const part of text.split(",")) {
    if (part.trim() === "") continue;
    const match = /^\s*(create|pay|ship|cancel)\s*[=:]\s*(\d+(?:\.\d+)?)\s*$/.exec(part);
    if (!match) throw new Error(`bad mix entry "${part.trim()}": expected create|pay|ship|cancel=<weight>`);
    weights[match[1] as CommandKind] = Number(match[2]);
  }
  if (weights.create <= 0) throw new Error("the mix needs create > 0 (every other command needs an order)");
  return weights;
}

/** Parses a rate given as a fraction (`0.02`) or a percentage (`2%`). */
export function parseRate(text: string, name: string): number {
  const match = /^\s*(\d+(?:\.\d+)?)\s*(%)?\s*$/.exec(text);
  if (!match) throw new Error(`bad ${name} "${text}": expected a fraction (0.02) or a percentage (2%)`);
  const value = match[2] ? Number(match[1]) / 100 : Number(match[1]);
  if (value < 0 || value > 1) throw new Error(`bad ${name} "${text}": must be between 0 and 1 (0% and 100%)`);
  return value;
}

export function makeMix(weights: Record<CommandKind, number>, duplicateRate: number, conflictRate: number): Mix {
  if (duplicateRate + conflictRate > 1) throw new Error("duplicate rate + conflict rate must not exceed 1");
  return { weights, duplicateRate, conflictRate };
}

/** What can be sent right now (the generator knows which orders are idle in which state). */
export interface Availability {
  readonly placed: boolean;
  readonly paid: boolean;
  readonly replayable: boolean;
}

/**
 * Picks the kind of the next call from one uniform random number in [0, 1). A kind that cannot be sent now (no
 * order in the right state, nothing to replay yet) falls back to `create`, which is always possible.
 */
export function pickKind(mix: Mix, u: number, available: Availability): CallKind {
  if (u < mix.duplicateRate) return available.replayable ? "duplicate" : "create";
  if (u < mix.duplicateRate + mix.conflictRate) return available.paid || available.placed ? "conflict" : "create";
  const rest = 1 - mix.duplicateRate - mix.conflictRate;
  const v = rest > 0 ? (u - mix.duplicateRate - mix.conflictRate) / rest : 0;
  const w = mix.weights;
  const total = w.create + w.pay + w.ship + w.cancel;
  let x = v * total;
  if (x < w.create) return "create";
  x -= w.create;
  if (x < w.pay) return available.placed ? "pay" : "create";
  x -= w.pay;
  if (x < w.ship) return available.paid ? "ship" : "create";
  return available.placed || available.paid ? "cancel" : "create";
}

/** Small, fast, seedable PRNG (mulberry32): runs are reproducible with `--seed`. */
export const createRng: (seed: number) => () => number = seededRandom;
