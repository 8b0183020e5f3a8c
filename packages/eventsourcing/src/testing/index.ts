export { seededRandom } from "../seeded-random.js";
export * from "./decider-specification.js";
export * from "./event-store-contract.js";
export * from "./recorded-event.js";
