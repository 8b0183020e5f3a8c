import type { Logger } from "@orderly/observability";
import type { Projector, ProjectorStatus } from "@orderly/projector";
import type { PartitionHolder } from "./partition-leases.js";

/**
 * The projectors of the partitions this process applies, one each (ADR 0019): started when a partition is assigned
 * (statically, or when its lease is acquired), stopped before it is released. A fresh projector (and projection) per
 * start: nothing cached from an earlier hold survives another instance's writes.
 */
export class PartitionRunners implements PartitionHolder {
  private readonly running = new Map<number, Projector>();

  constructor(
    private readonly make: (index: number) => Projector,
    private readonly logger: Logger,
  ) {}

  async acquired(index: number): Promise<void> {
    if (this.running.has(index)) return;
    const projector = this.make(index);
    await projector.start();
    this.running.set(index, projector);
    this.logger.info({ partition: index }, "applying partition");
  }

  async released(index: number): Promise<void> {
    const projector = this.running.get(index);
    this.running.delete(index);
    if (!projector) return;
    await projector.stop();
    this.logger.info({ partition: index }, "stopped applying partition");
  }

  /** Every partition held is applied without trouble (none held: ready, a standby). */
  ready(): boolean {
    for (const projector of this.running.values()) if (!projector.ready()) return false;
    return true;
  }

  get held(): readonly number[] {
    return [...this.running.keys()].sort((a, b) => a - b);
  }

  statuses(): ProjectorStatus[] {
    return [...this.running.values()].map((p) => p.status());
  }

  async stopAll(): Promise<void> {
    for (const index of this.held) await this.released(index);
  }
}
