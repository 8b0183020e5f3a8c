/** Mirrors the proto enums OrderStatus / PaymentStatus without their UNSPECIFIED values. */
export type OrderStatus = "placed" | "paid" | "shipped" | "cancelled";
export type PaymentStatus = "pending" | "authorized" | "paid" | "failed" | "refunded";
