import type { Logger } from 'pino';
import type { FileType } from '../lfs/types.js';

/** Events the data-management services react to, by name. */
export interface DataEvents {
  /** A file was created, written, truncated, renamed, changed or deleted. Sent by the file system's `recordChange`. */
  'file.changed': { spaceId: string; fileUuid: string; parentUuid: string | null; type: FileType; size: number; deleted: boolean };
  /** A QoS requirement was added to or removed from a file. */
  'qos.requirementChanged': { spaceId: string; qosRequirementId: string; fileUuid: string; removed: boolean };
  /** Storages or space support changed, so QoS expressions may select other storages. */
  'storage.changed': { storageId?: string; spaceId?: string };
}

export type DataEventName = keyof DataEvents;
export type DataEventListener<K extends DataEventName> = (event: DataEvents[K]) => Promise<void> | void;

/**
 * The one dispatch point of data events inside a worker. Listeners run in order of
 * subscription and are awaited, so `emit` resolves after every listener ran; a listener
 * that throws is logged and does not stop the others or fail the emitter.
 */
export class EventBus {
  private readonly listeners = new Map<DataEventName, Array<DataEventListener<any>>>();

  constructor(private readonly logger: Logger) {}

  on<K extends DataEventName>(name: K, listener: DataEventListener<K>): () => void {
    const list = this.listeners.get(name) ?? [];
    list.push(listener);
    this.listeners.set(name, list);
    return () => {
      const index = list.indexOf(listener);
      if (index >= 0) list.splice(index, 1);
    };
  }

  async emit<K extends DataEventName>(name: K, event: DataEvents[K]): Promise<void> {
    for (const listener of this.listeners.get(name) ?? []) {
      try {
        await listener(event);
      } catch (error) {
        this.logger.warn({ err: error, event: name }, 'data event listener failed');
      }
    }
  }
}
