import { randomBytes } from 'node:crypto';
import { inject, injectable } from 'inversify';
import type { Logger } from 'pino';
import { OpError } from '../errors.js';
import { encodeFileId } from '../ids/file-id.js';
import { updateDocument } from '../metadata/cas.js';
import type { ChildEntry, MetadataStore } from '../metadata/store.js';
import type { LogicalFileSystem } from '../lfs/api.js';
import {
  COLLECTIONS,
  isReservedName,
  locationKey,
  type FileDoc,
  type FileLocationDoc,
  type SpaceDoc,
  type SpaceSupport,
} from '../lfs/model.js';
import type { FileAttributes, Identity } from '../lfs/types.js';
import type { ListEntry, StorageHelper } from '../storage/helper.js';
import { TYPES, type Clock } from '../tokens.js';
import type { CoreOptions } from '../lfs/file-system.js';
import type { ImportStats, RegisterFileRequest, StorageImporter, StorageRegistry } from '../spaces/api.js';
import { registerFile } from './manual-registration.js';
import { registerStorageEntry, registeredLocation, registeredType, type StorageEntrySource } from './registration.js';

/** Entries read from the storage and from the metadata store per page while scanning. */
const PAGE_SIZE = 500;
/** Deepest directory level a scan descends to, as Onedata's default `maxDepth`. */
const MAX_DEPTH = 65535;
/** How long a scan holds its lease before it must renew it, in milliseconds. */
const LEASE_TTL_MS = 60_000;

const SCANNER: Identity = { userId: 'storage-import', isAdmin: true };

interface ScanContext {
  space: SpaceDoc;
  support: SpaceSupport;
  helper: StorageHelper;
  stats: ImportStats;
  holder: string;
  leaseRenewedAtMs: number;
}

/** Thrown between entries when a stop was requested; the scan then ends as `aborted`. */
class ScanStopped extends Error {}

/**
 * Registers what lies on a space's imported (canonical) storage as the space's files,
 * metadata only. A re-scan adds new entries, updates those whose size or modification
 * time changed, and removes those that disappeared from the storage. Storage listings
 * and the children index are both in byte order of names, so each directory is
 * compared by one merge pass over the two.
 */
@injectable()
export class StorageImporterImpl implements StorageImporter {
  constructor(
    @inject(TYPES.MetadataStore) private readonly store: MetadataStore,
    @inject(TYPES.StorageRegistry) private readonly storages: StorageRegistry,
    @inject(TYPES.LogicalFileSystem) private readonly lfs: LogicalFileSystem,
    @inject(TYPES.Clock) private readonly clock: Clock,
    @inject(TYPES.Logger) private readonly logger: Logger,
    @inject(TYPES.CoreOptions) private readonly options: CoreOptions,
  ) {}

  /** Spaces whose running scan (in this process) was asked to stop. */
  private readonly stopRequests = new Set<string>();
  /** Spaces with a scan running in this process. */
  private readonly running = new Set<string>();

  async stats(spaceId: string): Promise<ImportStats | undefined> {
    return (await this.store.get<ImportStats>(COLLECTIONS.importStats, spaceId))?.value;
  }

  /**
   * Ask the running scan to stop before its next entry.
   *
   * NOTE: the request reaches only a scan running in this process; a scan that another
   * worker runs for the same space goes on.
   */
  stop(spaceId: string): boolean {
    if (!this.running.has(spaceId)) return false;
    this.stopRequests.add(spaceId);
    this.logger.info({ spaceId }, 'import scan stop requested');
    return true;
  }

  async registerFile(who: Identity, request: RegisterFileRequest): Promise<FileAttributes> {
    const dependencies = { store: this.store, storages: this.storages, lfs: this.lfs, clock: this.clock, providerId: this.options.providerId };
    const attributes = await registerFile(dependencies, who, request);
    this.logger.info({ spaceId: request.spaceId, storageId: request.storageId, path: request.destinationPath, userId: who.userId }, 'file registered');
    return attributes;
  }

  async scan(spaceId: string): Promise<ImportStats> {
    const space = await this.spaceDoc(spaceId);
    const support = await this.importedSupport(space);
    const holder = randomBytes(8).toString('hex');
    const lease = await this.store.acquireLease(`storage-import:${spaceId}`, holder, LEASE_TTL_MS);
    if (!lease) throw new OpError('conflict', `an import scan of space "${space.name}" is already running`, { spaceId });

    const previous = await this.stats(spaceId);
    const context: ScanContext = {
      space,
      support,
      helper: await this.storages.helper(support.storageId),
      holder,
      leaseRenewedAtMs: this.clock.now(),
      stats: {
        status: 'running',
        start: this.clock.now(),
        stop: null,
        createdFiles: 0,
        modifiedFiles: 0,
        deletedFiles: 0,
        unmodifiedFiles: 0,
        failedFiles: 0,
        totalScans: (previous?.totalScans ?? 0) + 1,
      },
    };
    await this.store.put(COLLECTIONS.importStats, spaceId, context.stats);
    this.logger.info({ spaceId, storageId: support.storageId, scan: context.stats.totalScans }, 'import scan started');

    this.running.add(spaceId);
    this.stopRequests.delete(spaceId);
    try {
      const root = await this.fileDoc(space.rootUuid);
      await this.scanDirectory(context, root, '', 0);
      context.stats.status = 'completed';
    } catch (error) {
      if (!(error instanceof ScanStopped)) {
        context.stats.status = 'failed';
        this.logger.error({ err: error, spaceId }, 'import scan failed');
        throw error;
      }
      context.stats.status = 'aborted';
    } finally {
      this.running.delete(spaceId);
      this.stopRequests.delete(spaceId);
      context.stats.stop = this.clock.now();
      await this.store.put(COLLECTIONS.importStats, spaceId, context.stats);
      await this.store.releaseLease(`storage-import:${spaceId}`, holder);
      this.logger.info({ spaceId, ...context.stats }, 'import scan ended');
    }
    return context.stats;
  }

  private async scanDirectory(context: ScanContext, dir: FileDoc, storagePath: string, depth: number): Promise<void> {
    await this.keepLease(context);
    const onStorage = this.storageEntries(context.helper, storagePath);
    const inMetadata = this.metadataEntries(dir.uuid, dir.parentUuid === null);
    let stored = await onStorage.next();
    let known = await inMetadata.next();

    while (!stored.done || !known.done) {
      if (this.stopRequests.has(context.space.spaceId)) throw new ScanStopped();
      const order = mergeOrder(stored, known);
      if (order < 0 && !stored.done) {
        await this.guard(context, stored.value.name, () => this.register(context, dir, storagePath, stored.value as ListEntry, depth));
        stored = await onStorage.next();
      } else if (order > 0 && !known.done) {
        await this.guard(context, known.value.name, () => this.unregister(context, known.value as ChildEntry));
        known = await inMetadata.next();
      } else if (!stored.done && !known.done) {
        const entry = stored.value;
        const child = known.value;
        await this.guard(context, entry.name, () => this.compare(context, dir, storagePath, entry, child, depth));
        stored = await onStorage.next();
        known = await inMetadata.next();
      }
    }
  }

  /** Register a storage entry the metadata does not know, descending into directories. */
  private async register(context: ScanContext, dir: FileDoc, dirPath: string, entry: ListEntry, depth: number): Promise<void> {
    const path = joinPath(dirPath, entry.name);
    const doc = await registerStorageEntry(this.store, this.source(context), dir, entry.name, entry.stat, path);
    if (doc === undefined) return;
    context.stats.createdFiles++;

    if (doc.type === 'DIR' && depth + 1 < MAX_DEPTH) await this.scanDirectory(context, doc, path, depth + 1);
  }

  /** Remove from the namespace a known name that is no longer on the storage. */
  private async unregister(context: ScanContext, child: ChildEntry): Promise<void> {
    const fileId = encodeFileId({ fileUuid: child.childId, spaceId: context.space.spaceId });
    await this.lfs.forget(SCANNER, fileId).catch((error: unknown) => {
      if (!(OpError.is(error) && error.kind === 'notFound')) throw error;
    });
    context.stats.deletedFiles++;
  }

  /** A name on both sides: update a file whose size or modification time changed. */
  private async compare(
    context: ScanContext,
    dir: FileDoc,
    dirPath: string,
    entry: ListEntry,
    child: ChildEntry,
    depth: number,
  ): Promise<void> {
    const doc = await this.fileDoc(child.childId);
    const storedType = registeredType(entry.stat);
    const path = joinPath(dirPath, entry.name);

    if (storedType !== doc.type) {
      await this.unregister(context, child);
      await this.register(context, dir, dirPath, entry, depth);
      return;
    }
    if (doc.type === 'DIR') {
      context.stats.unmodifiedFiles++;
      if (depth + 1 < MAX_DEPTH) await this.scanDirectory(context, doc, path, depth + 1);
      return;
    }

    const key = locationKey(doc.uuid, context.support.storageId);
    const location = await this.store.get<FileLocationDoc>(COLLECTIONS.location, key);
    const unchanged = doc.size === entry.stat.size && (location?.value.storageMtimeMs ?? entry.stat.mtimeMs) === entry.stat.mtimeMs;
    if (unchanged) {
      context.stats.unmodifiedFiles++;
      return;
    }

    await updateDocument<FileDoc>(this.store, COLLECTIONS.file, doc.uuid, (value) => {
      value.size = entry.stat.size;
      value.mtimeMs = entry.stat.mtimeMs;
      value.ctimeMs = this.clock.now();
    });
    await this.store.put(COLLECTIONS.location, key, registeredLocation(this.source(context), doc, path, entry.stat.mtimeMs, entry.stat.size));
    await this.store.appendChange(doc.spaceId, { collection: COLLECTIONS.file, key: doc.uuid, deleted: false });
    context.stats.modifiedFiles++;
  }

  /** Count a failure on one entry and go on with the rest, as Onedata's import does. */
  private async guard(context: ScanContext, name: string, action: () => Promise<void>): Promise<void> {
    try {
      await action();
    } catch (error) {
      context.stats.failedFiles++;
      this.logger.warn({ err: error, spaceId: context.space.spaceId, name }, 'import of one entry failed');
    }
  }

  private source(context: ScanContext): StorageEntrySource {
    return { space: context.space, storageId: context.support.storageId, providerId: this.options.providerId };
  }

  private async *storageEntries(helper: StorageHelper, path: string): AsyncGenerator<ListEntry> {
    let startAfter: string | undefined;
    for (;;) {
      const page = await helper.list(path, { startAfter, limit: PAGE_SIZE });
      for (const entry of page.entries) {
        // The worker's own objects (trash, probes, temporary uploads) are not user data.
        if (!isReservedName(entry.name, path === '')) yield entry;
      }
      const last = page.entries[page.entries.length - 1];
      if (page.isLast || !last) return;
      startAfter = last.name;
    }
  }

  private async *metadataEntries(parentUuid: string, inSpaceRoot: boolean): AsyncGenerator<ChildEntry> {
    let startAfter: string | undefined;
    for (;;) {
      const page = await this.store.listChildren(parentUuid, { startAfter, limit: PAGE_SIZE });
      for (const entry of page) {
        if (!isReservedName(entry.name, inSpaceRoot)) yield entry;
      }
      const last = page[page.length - 1];
      if (page.length < PAGE_SIZE || !last) return;
      startAfter = last.name;
    }
  }

  private async keepLease(context: ScanContext): Promise<void> {
    if (this.clock.now() - context.leaseRenewedAtMs < LEASE_TTL_MS / 3) return;
    const lease = await this.store.renewLease(`storage-import:${context.space.spaceId}`, context.holder, LEASE_TTL_MS);
    if (!lease) throw new OpError('conflict', `import scan of space "${context.space.name}" lost its lease`);
    context.leaseRenewedAtMs = this.clock.now();
  }

  private async spaceDoc(spaceId: string): Promise<SpaceDoc> {
    const document = await this.store.get<SpaceDoc>(COLLECTIONS.space, spaceId);
    if (!document) throw OpError.notFound(`space "${spaceId}"`, { spaceId });
    return document.value;
  }

  private async importedSupport(space: SpaceDoc): Promise<SpaceSupport> {
    for (const support of space.supports) {
      const record = await this.storages.get(support.storageId);
      if (record.importedStorage) return support;
    }
    throw OpError.badValue('spaceId', `space "${space.name}" is not supported by an imported storage; add one with importedStorage set`, {
      spaceId: space.spaceId,
    });
  }

  private async fileDoc(uuid: string): Promise<FileDoc> {
    const document = await this.store.get<FileDoc>(COLLECTIONS.file, uuid);
    if (!document) throw OpError.notFound('file', { fileUuid: uuid });
    return document.value;
  }
}

function joinPath(dir: string, name: string): string {
  return dir === '' ? name : `${dir}/${name}`;
}

/**
 * Compare the heads of the two sorted sources of a merge pass: negative when the storage
 * entry comes first (or metadata is exhausted), positive for the metadata entry.
 */
function mergeOrder(stored: IteratorResult<ListEntry>, known: IteratorResult<ChildEntry>): number {
  if (stored.done) return 1;
  if (known.done) return -1;
  return Buffer.compare(Buffer.from(stored.value.name), Buffer.from(known.value.name));
}
