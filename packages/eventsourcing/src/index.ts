export * from "./command.js";
export * from "./decider.js";
export * from "./errors.js";
export * from "./event.js";
export * from "./event-store.js";
export * from "./expected-version.js";
export * from "./in-memory-event-store.js";
export * from "./seeded-random.js";
