import type {
  AppendRequest,
  CommandOutcome,
  Event,
  EventStore,
  Position,
  ReadStreamResult,
  RecordedEvent,
} from "@orderly/eventsourcing";

/** An event store that adds something around `inner`'s appends and hands every read to it unchanged. */
export abstract class AppendWrapper implements EventStore {
  constructor(protected readonly inner: EventStore) {}

  abstract append<E extends Event>(request: AppendRequest<E>): Promise<CommandOutcome>;

  readStream<E extends Event>(streamId: string): Promise<ReadStreamResult<E>> {
    return this.inner.readStream<E>(streamId);
  }

  readAll(after: Position, limit: number): Promise<readonly RecordedEvent[]> {
    return this.inner.readAll(after, limit);
  }

  findCommand(key: string): Promise<(CommandOutcome & { readonly requestHash: string }) | undefined> {
    return this.inner.findCommand(key);
  }

  headPosition(): Promise<Position> {
    return this.inner.headPosition();
  }
}
