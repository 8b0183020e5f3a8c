/**
 * The ids and identity a command carries and every event it raises keeps, copied as they are (the command service
 * builds each event's metadata from its command's).
 */
export interface CorrelationMetadata {
  readonly commandId: string;
  readonly correlationId: string;
  readonly causationId: string;
  /** W3C trace context of the request that raised the command, when one came in. */
  readonly traceparent?: string | undefined;
  /**
   * The authenticated principal that issued the command (a token's `sub`, or `x509:<subject>` of a client certificate
   * when no token came; the audit identity of its events); undefined when auth is off.
   */
  readonly actor?: string | undefined;
}

/** Metadata every command carries into the domain. */
export interface CommandMetadata extends CorrelationMetadata {
  /** The time the command is handled, taken once at the edge. */
  readonly now: Date;
}

export interface Command<Type extends string = string, Data = unknown> {
  readonly type: Type;
  readonly data: Data;
  readonly metadata: CommandMetadata;
}
