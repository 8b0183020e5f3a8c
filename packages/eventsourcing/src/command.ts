/** Metadata every command carries into the domain. */
export interface CommandMetadata {
  readonly commandId: string;
  readonly correlationId: string;
  readonly causationId: string;
  /** The time the command is handled, taken once at the edge. */
  readonly now: Date;
  readonly traceparent?: string | undefined;
  /**
   * The authenticated principal that issued the command (a token's `sub`, or `x509:<subject>` of a client certificate
   * when no token came); undefined when auth is off.
   */
  readonly actor?: string | undefined;
}

export interface Command<Type extends string = string, Data = unknown> {
  readonly type: Type;
  readonly data: Data;
  readonly metadata: CommandMetadata;
}
