// The ports of the continuity gate, declared here by their user (implemented by @orderly/event-bus's NatsStreamTail
// and @orderly/event-store-postgres's StoreContinuity; wired in main.ts).

/** Where the event stream ends: the mark of its last message. */
export interface StreamTail {
  /** The stream's name, for messages. */
  readonly stream: string;
  /** Undefined when the stream holds no message. Throws when the stream cannot be reached. */
  tail(): Promise<{ readonly position: number; readonly eventId: string } | undefined>;
}

/** Whether the event store holds a mark (the event at that position). */
export interface StoreMarkCheck {
  /** Undefined when it does; otherwise the line that says what differs and how to repair it. Throws on an outage. */
  diverges(
    mark: { readonly position: number; readonly eventId: string | undefined },
    what: string,
  ): Promise<string | undefined>;
}

/** The part of a pino logger the gate uses. */
export interface GateLogger {
  info(obj: object, msg?: string): void;
  warn(obj: object, msg?: string): void;
  error(obj: object, msg?: string): void;
}
