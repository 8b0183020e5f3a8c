import type { Decider } from "@orderly/eventsourcing";
import type { OrderCommand } from "./commands.js";
import { decide } from "./decide.js";
import type { OrderEvent } from "./events.js";
import { evolve } from "./evolve.js";
import { initialOrderState, type OrderState } from "./state.js";

export const orderDecider: Decider<OrderCommand, OrderEvent, OrderState> = {
  initialState: initialOrderState,
  decide,
  evolve,
};
