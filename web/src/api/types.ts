// The shapes of the public API (through the gateway), as the web app uses them. Fields that
// later rounds of the API add are optional here, so the pages work against both.

export type Role = "customer" | "guest" | "staff" | "admin";
export const GRANTABLE_ROLES = ["customer", "staff", "admin"] as const;
export type GrantableRole = (typeof GRANTABLE_ROLES)[number];

export type OrderStatus = "PENDING" | "STOCK_RESERVED" | "CONFIRMED" | "REJECTED" | "CANCELLED";
export const ORDER_STATUSES: readonly OrderStatus[] = [
  "PENDING",
  "STOCK_RESERVED",
  "CONFIRMED",
  "REJECTED",
  "CANCELLED",
];
export type FulfilmentStatus = "NOT_STARTED" | "PREPARING" | "SHIPPED" | "DELIVERED";
export const FULFILMENT_STEPS: readonly FulfilmentStatus[] = [
  "NOT_STARTED",
  "PREPARING",
  "SHIPPED",
  "DELIVERED",
];
export type PaymentStatus =
  | "PENDING"
  | "AWAITING_PAYMENT"
  | "AUTHORIZED"
  | "DECLINED"
  | "REFUNDED"
  | "VOIDED";
export type InventoryStatus = "PENDING" | "RESERVED" | "INSUFFICIENT" | "RELEASED" | "COMMITTED";
export type PaymentMethod = "card" | "pix";
export type NotificationChannel = "email" | "sms";

export interface Page<T> {
  items: T[];
  page: number;
  size: number;
  total: number;
}

export interface TokenPair {
  access_token: string;
  refresh_token: string;
  token_type: string;
  expires_in: number;
}

export interface GuestSession extends TokenPair {
  user_id: string;
}

export interface Registered {
  user_id: string;
  email: string;
}

export interface Address {
  street: string;
  number: string;
  city: string;
  state: string;
  country: string;
  zipcode: string;
}

export interface Profile {
  user_id: string;
  email: string | null;
  full_name: string | null;
  phone: string | null;
  addresses: Address[];
  national_id?: string | null;
  notification_channels?: NotificationChannel[];
}

export interface ProfileUpdate {
  full_name?: string;
  phone?: string | null;
  addresses?: Address[];
  national_id?: string;
  notification_channels?: NotificationChannel[];
}

export interface Category {
  category_id: string;
  name: string;
  slug: string;
  description: string | null;
}

export interface CategoryInput {
  name?: string;
  slug?: string;
  description?: string | null;
}

export interface Product {
  product_id: string;
  sku: string;
  name: string;
  description: string | null;
  price: string;
  currency: string;
  stock_available: number;
  category_id?: string | null;
}

export interface ProductCreate {
  sku: string;
  name: string;
  description?: string | null;
  price: string;
  currency: string;
  stock: number;
  category_id?: string | null;
}

export interface ProductUpdate {
  name?: string;
  description?: string | null;
  price?: string;
  stock?: number;
  category_id?: string | null;
}

export interface ProductQuery {
  q?: string;
  category?: string;
  page?: number;
  size?: number;
}

export interface OrderItem {
  product_id: string;
  quantity: number;
  unit_price: string;
}

export interface Fulfilment {
  status: FulfilmentStatus;
  updated_at: string | null;
}

export interface Order {
  order_id: string;
  customer_id: string;
  status: OrderStatus;
  items: OrderItem[];
  total: string;
  currency: string;
  payment: { status: PaymentStatus };
  inventory: { status: InventoryStatus };
  failure_reason: string | null;
  created_at: string;
  updated_at: string;
  delivery_address?: Address | null;
  payment_method?: PaymentMethod;
  correlation_id?: string;
  fulfilment?: Fulfilment | null;
}

export interface NewOrder {
  items: { product_id: string; quantity: number }[];
  delivery_address?: Address;
  payment_method: PaymentMethod;
}

export interface OrderAccepted {
  order_id: string;
  status: OrderStatus;
}

export interface OrderQuery {
  status?: OrderStatus;
  fulfilment?: FulfilmentStatus;
  page?: number;
  size?: number;
}

export interface TimelineStep {
  step: string;
  event_type: string;
  service: string;
  at: string;
}

export interface Payment {
  payment_id: string;
  order_id: string;
  amount: string;
  currency: string;
  status: PaymentStatus;
  qr_code?: string | null;
  qr_code_png?: string | null;
  expires_at?: string | null;
}

export interface Notification {
  notification_id: string;
  kind: string;
  channel: string;
  subject: string;
  status: string;
  created_at: string;
  sent_at?: string | null;
}

export interface RolesGranted {
  user_id: string;
  roles: string[];
}

/** One Kafka message of an order's trace; headers normalised to name/value pairs. */
export interface TraceMessage {
  topic: string;
  partition: number;
  offset: number;
  key: string | null;
  event_type: string | null;
  event_id: string | null;
  headers: [string, string][];
  timestamp: string | number | null;
}

/** An inbox entry: which service applied which event; shown field by field as the API gives it. */
export type InboxEntry = Record<string, unknown>;

export interface OrderTrace {
  order_id: string;
  correlation_id: string | null;
  timeline: TimelineStep[];
  messages: TraceMessage[];
  inbox: InboxEntry[];
}

export interface DeadLetter {
  topic: string;
  partition: number;
  offset: number;
  event_type: string | null;
  event_id: string | null;
  error: string | null;
  error_type: string | null;
  attempts: number | null;
  dead_at: string | null;
}

export interface Replayed {
  replayed: number;
}

/** The order states after which nothing changes (the SSE stream ends there). */
export function isFinal(order: Pick<Order, "status" | "fulfilment">): boolean {
  return (
    order.status === "REJECTED" ||
    order.status === "CANCELLED" ||
    order.fulfilment?.status === "DELIVERED"
  );
}

/** A customer may cancel until the order is confirmed (the API answers 409 after). */
export function isCancellable(order: Pick<Order, "status">): boolean {
  return order.status === "PENDING" || order.status === "STOCK_RESERVED";
}

/** The fulfilment step after `status`, or null at the end. */
export function nextFulfilment(status: FulfilmentStatus): FulfilmentStatus | null {
  const index = FULFILMENT_STEPS.indexOf(status);
  return FULFILMENT_STEPS[index + 1] ?? null;
}
