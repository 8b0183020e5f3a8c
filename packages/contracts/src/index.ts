export * from "./gen/orderly/orders/v1/commands_pb.js";
export * from "./gen/orderly/orders/v1/event_service_pb.js";
export * from "./gen/orderly/orders/v1/events_pb.js";
export * from "./gen/orderly/orders/v1/queries_pb.js";
export * from "./gen/orderly/orders/v1/types_pb.js";
