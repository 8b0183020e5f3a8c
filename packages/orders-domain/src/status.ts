/** Mirrors the proto enums OrderStatus / PaymentStatus without their UNSPECIFIED values. */
export type OrderStatus = "placed" | "paid" | "shipped" | "cancelled";
export type PaymentStatus = "pending" | "authorized" | "paid" | "failed" | "refunded";

export const orderStatuses: readonly OrderStatus[] = ["placed", "paid", "shipped", "cancelled"];
export const paymentStatuses: readonly PaymentStatus[] = ["pending", "authorized", "paid", "failed", "refunded"];
