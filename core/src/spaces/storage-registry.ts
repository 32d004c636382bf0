import { randomBytes } from 'node:crypto';
import { Readable } from 'node:stream';
import { buffer } from 'node:stream/consumers';
import { inject, injectable } from 'inversify';
import type { Logger } from 'pino';
import { OpError, StorageError } from '../errors.js';
import type { EventBus } from '../events/bus.js';
import type { MetadataStore } from '../metadata/store.js';
import { createDispatchedHelper } from '../storage/dispatcher.js';
import { parseStorageConfig, redactStorageConfig } from '../storage/config.js';
import type { StorageHelper, StoragePluginManifest } from '../storage/helper.js';
import { TYPES } from '../tokens.js';
import { COLLECTIONS } from '../lfs/model.js';
import type { AddStorageRequest, StorageRecord, StorageRegistry, UpdateStorageRequest } from './api.js';
import { documentCacheOf, type DocumentCache } from './document-cache.js';

/** Name prefix of the objects written and removed by storage verification. */
const VERIFY_PREFIX = '.op-worker-verify-';

@injectable()
export class StorageRegistryImpl implements StorageRegistry {
  private readonly helpers = new Map<string, Promise<StorageHelper>>();
  /** Storage records for `get`, which every file read and write calls. */
  private readonly documents: DocumentCache;

  /** Event bus that gets `storage.changed` after a storage is added, modified or removed. Set when the data-management services are wired. */
  events: EventBus | undefined;

  constructor(
    @inject(TYPES.MetadataStore) private readonly store: MetadataStore,
    @inject(TYPES.StoragePluginManifests) private readonly manifests: StoragePluginManifest[],
    @inject(TYPES.Logger) private readonly logger: Logger,
  ) {
    this.documents = documentCacheOf(store);
  }

  async add(request: AddStorageRequest): Promise<StorageRecord> {
    const manifest = this.manifest(request.type);
    const record: StorageRecord = {
      storageId: randomBytes(16).toString('hex'),
      name: request.name,
      type: manifest.type,
      config: parseStorageConfig(manifest.configSchema, request.config),
      storagePathType: request.storagePathType ?? (request.importedStorage ? 'canonical' : manifest.defaultPathType),
      importedStorage: request.importedStorage ?? false,
      qosParameters: { ...request.qosParameters },
      readonly: request.readonly ?? false,
    };
    if (record.importedStorage && record.storagePathType !== 'canonical') {
      throw OpError.badValue('storagePathType', 'an imported storage must use the canonical storage path type');
    }

    const helper = await this.createHelper(record);
    try {
      await verifyStorage(helper, record);
    } catch (error) {
      await helper.close();
      throw error;
    }

    await this.store.create(COLLECTIONS.storage, record.storageId, record);
    this.documents.invalidate(COLLECTIONS.storage, record.storageId);
    this.helpers.set(record.storageId, Promise.resolve(helper));
    this.logger.info({ storageId: record.storageId, type: record.type, name: record.name }, 'storage added');
    await this.events?.emit('storage.changed', { storageId: record.storageId });
    return record;
  }

  /** Return a storage's record; it may be up to `DOCUMENT_CACHE_MS` old when another process changed it. */
  async get(storageId: string): Promise<StorageRecord> {
    const document = await this.documents.get<StorageRecord>(COLLECTIONS.storage, storageId);
    if (!document) throw OpError.notFound(`storage "${storageId}"`, { storageId });
    return document.value;
  }

  async update(storageId: string, request: UpdateStorageRequest): Promise<StorageRecord> {
    const document = await this.store.get<StorageRecord>(COLLECTIONS.storage, storageId);
    if (!document) throw OpError.notFound(`storage "${storageId}"`, { storageId });
    const current = document.value;
    const manifest = this.manifest(current.type);
    const record: StorageRecord = {
      ...current,
      name: request.name ?? current.name,
      qosParameters: request.qosParameters === undefined ? current.qosParameters : { ...request.qosParameters },
      readonly: request.readonly ?? current.readonly,
      config: parseStorageConfig(manifest.configSchema, { ...current.config, ...request.config }),
    };

    const helper = await this.createHelper(record);
    try {
      await verifyStorage(helper, record);
      await this.store.update(COLLECTIONS.storage, storageId, record, document.version);
      this.documents.invalidate(COLLECTIONS.storage, storageId);
    } catch (error) {
      await helper.close();
      throw error;
    }

    const previous = this.helpers.get(storageId);
    this.helpers.set(storageId, Promise.resolve(helper));
    // NOTE: an operation still running on the previous helper may fail when it closes.
    if (previous) await (await previous.catch(() => undefined))?.close();
    this.logger.info({ storageId, name: record.name, changedOptions: Object.keys(request.config ?? {}) }, 'storage modified');
    await this.events?.emit('storage.changed', { storageId });
    return record;
  }

  async list(): Promise<StorageRecord[]> {
    const records: StorageRecord[] = [];
    let cursor: string | undefined;
    do {
      const page = await this.store.scan<StorageRecord>(COLLECTIONS.storage, { cursor, limit: 100 });
      records.push(...page.documents.map((document) => document.value));
      cursor = page.nextCursor;
    } while (cursor !== undefined);
    return records;
  }

  async remove(storageId: string): Promise<void> {
    await this.get(storageId);
    const cached = this.helpers.get(storageId);
    this.helpers.delete(storageId);
    if (cached) await (await cached).close();
    await this.store.delete(COLLECTIONS.storage, storageId);
    this.documents.invalidate(COLLECTIONS.storage, storageId);
    this.logger.info({ storageId }, 'storage removed');
    await this.events?.emit('storage.changed', { storageId });
  }

  redacted(record: StorageRecord): Record<string, unknown> {
    const schema = this.manifest(record.type).configSchema;
    return { ...record, config: redactStorageConfig(schema, record.config) };
  }

  helper(storageId: string): Promise<StorageHelper> {
    let helper = this.helpers.get(storageId);
    if (!helper) {
      helper = this.get(storageId).then((record) => this.createHelper(record));
      helper.catch(() => this.helpers.delete(storageId));
      this.helpers.set(storageId, helper);
    }
    return helper;
  }

  async close(): Promise<void> {
    const helpers = [...this.helpers.values()];
    this.helpers.clear();
    await Promise.allSettled(helpers.map(async (helper) => (await helper).close()));
  }

  private manifest(type: string): StoragePluginManifest {
    const manifest = this.manifests.find((candidate) => candidate.type === type);
    if (!manifest) {
      const known = this.manifests.map((candidate) => candidate.type).join(', ') || 'none';
      throw OpError.badValue('type', `unknown storage type "${type}"; loaded plugins: ${known}`);
    }
    return manifest;
  }

  private async createHelper(record: StorageRecord): Promise<StorageHelper> {
    const manifest = this.manifest(record.type);
    const logger = this.logger.child({ storageId: record.storageId, storageType: record.type });
    const helper = await manifest.create(record.config, { storageId: record.storageId, logger });
    // A plugin's `timeout` option, where it has one, is the dispatcher's limit per operation (ms).
    const timeoutMs = typeof record.config['timeout'] === 'number' ? record.config['timeout'] : undefined;
    // The dispatcher adds the storage id and type to its own log lines, so it gets the parent logger.
    return createDispatchedHelper(helper, { storageId: record.storageId, type: record.type, logger: this.logger, timeoutMs });
  }
}

/**
 * Check that a storage answers before it is recorded, as Onedata does: a write, read
 * and delete of a small object, or only a listing of the root when the storage is
 * read-only. Failures name the storage and the step.
 */
export async function verifyStorage(helper: StorageHelper, record: StorageRecord): Promise<void> {
  const step = async (name: string, action: () => Promise<void>): Promise<void> => {
    try {
      await action();
    } catch (error) {
      const kind = StorageError.is(error) ? error.kind : 'Unexpected';
      const reason = error instanceof Error ? error.message : String(error);
      throw new OpError(
        kind === 'Unavailable' || kind === 'RateLimited' ? 'unavailable' : 'badValue',
        `verification of storage "${record.name}" (${record.type}) failed at the ${name} step: ${reason}`,
        { key: 'storage', step: name, storageErrorKind: kind },
        error,
      );
    }
  };

  if (record.readonly) {
    await step('list', async () => void (await helper.list('', { limit: 1 })));
    return;
  }

  const probe = `${VERIFY_PREFIX}${randomBytes(8).toString('hex')}`;
  const content = randomBytes(32);
  await step('write', async () => void (await helper.write(probe, Readable.from([content]), { size: content.length })));
  await step('read', async () => {
    const read = await buffer(await helper.read(probe));
    if (!read.equals(content)) throw new Error('the bytes read back differ from the bytes written');
  });
  await step('delete', () => helper.delete(probe));
}
