export * from "./decider-specification.js";
export * from "./event-store-contract.js";
export * from "./seeded-random.js";
