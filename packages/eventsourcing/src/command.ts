/** Metadata every command carries into the domain. */
export interface CommandMetadata {
  readonly commandId: string;
  readonly correlationId: string;
  readonly causationId: string;
  /** The time the command is handled, taken once at the edge. */
  readonly now: Date;
  readonly traceparent?: string | undefined;
}

export interface Command<Type extends string = string, Data = unknown> {
  readonly type: Type;
  readonly data: Data;
  readonly metadata: CommandMetadata;
}
