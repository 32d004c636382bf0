import { OpError } from '../errors.js';
import { decodeFileId, encodeFileId } from '../ids/file-id.js';
import { updateDocument } from '../metadata/cas.js';
import type { MetadataStore } from '../metadata/store.js';
import type { LogicalFileSystem } from '../lfs/api.js';
import { storageDirId } from '../lfs/layout.js';
import { COLLECTIONS, locationKey, type FileDoc, type SpaceDoc, type SpaceSupport } from '../lfs/model.js';
import type { FileAttributes, Identity } from '../lfs/types.js';
import { splitLogicalPath } from '../paths.js';
import type { RegisterFileRequest, StorageRegistry } from '../spaces/api.js';
import type { StorageStat } from '../storage/helper.js';
import type { Clock } from '../tokens.js';
import { registerStorageEntry, registeredLocation, type StorageEntrySource } from './registration.js';

export interface ManualRegistrationDependencies {
  store: MetadataStore;
  storages: StorageRegistry;
  lfs: LogicalFileSystem;
  clock: Clock;
  providerId: string;
}

/**
 * Register one regular file of a space's imported storage by hand, or update the
 * metadata of one registered before (extended attributes are merged, the rest replaced).
 * Missing parent directories are created. Directories themselves cannot be registered.
 *
 * NOTE: the storage path must equal the destination path, because on canonical storages
 * a file's data path is derived from its logical path; Onedata allows them to differ.
 */
export async function registerFile(deps: ManualRegistrationDependencies, who: Identity, request: RegisterFileRequest): Promise<FileAttributes> {
  const { space, support } = await importedSupport(deps, who, request);

  const segments = splitLogicalPath(request.destinationPath);
  const name = segments.pop();
  if (name === undefined) throw OpError.badValue('destinationPath', 'destinationPath must name a file below the space root');
  const storageSegments = splitLogicalPath(request.storageFileId);
  if (storageSegments.join('/') !== [...segments, name].join('/')) {
    throw OpError.badValue('storageFileId', `storageFileId "${request.storageFileId}" must equal destinationPath "${request.destinationPath}" on a canonical storage`);
  }
  const storagePath = storageDirId(support, [...segments, name]);

  const stat = await fileStat(deps, request, storagePath);
  const parent = await ensureDirectory(deps, who, space, segments);
  const source: StorageEntrySource = { space, storageId: support.storageId, providerId: deps.providerId };
  const existingUuid = await deps.store.getChild(parent.uuid, name);
  const fileUuid = existingUuid === undefined
    ? (await registerNew(deps, source, parent, name, stat, storagePath)).uuid
    : await updateRegistered(deps, source, existingUuid, stat, storagePath);

  const fileId = encodeFileId({ fileUuid, spaceId: space.spaceId });
  if (request.xattrs !== undefined && Object.keys(request.xattrs).length > 0) await deps.lfs.setXattrs(who, fileId, request.xattrs);
  if (request.json !== undefined) await deps.lfs.setJsonMetadata(who, fileId, request.json);
  if (request.rdf !== undefined) await deps.lfs.setRdfMetadata(who, fileId, request.rdf);
  return deps.lfs.getAttributes(who, fileId);
}

/** The space (which the caller must belong to) and its support by the named imported, canonical storage. */
async function importedSupport(
  deps: ManualRegistrationDependencies,
  who: Identity,
  request: RegisterFileRequest,
): Promise<{ space: SpaceDoc; support: SpaceSupport }> {
  await deps.lfs.getSpace(who, request.spaceId);
  const space = (await deps.store.get<SpaceDoc>(COLLECTIONS.space, request.spaceId))?.value;
  if (!space) throw OpError.notFound(`space "${request.spaceId}"`, { spaceId: request.spaceId });

  const record = await deps.storages.get(request.storageId);
  const support = space.supports.find((candidate) => candidate.storageId === record.storageId);
  if (!support) {
    throw OpError.badValue('storageId', `storage "${record.name}" does not support space "${space.name}"`, { storageId: record.storageId });
  }
  if (!record.importedStorage || record.storagePathType !== 'canonical') {
    throw OpError.badValue('storageId', `storage "${record.name}" is not an imported storage with canonical paths; only those hold files to register`, {
      storageId: record.storageId,
    });
  }
  return { space, support };
}

/** Attributes of the file: the request's values, then what the storage reports, then defaults. */
async function fileStat(deps: ManualRegistrationDependencies, request: RegisterFileRequest, storagePath: string): Promise<StorageStat> {
  const detected = request.autoDetectAttributes === false ? undefined : await (await deps.storages.helper(request.storageId)).stat(storagePath);
  if (detected !== undefined && detected.type !== 'file') {
    throw OpError.badValue('storageFileId', `"${request.storageFileId}" is a ${detected.type} on the storage; only regular files can be registered`);
  }
  const size = request.size ?? detected?.size;
  if (size === undefined) {
    throw new OpError('missingValue', 'size is required when autoDetectAttributes is false', { key: 'size' });
  }

  const now = deps.clock.now();
  const milliseconds = (seconds: number | undefined): number | undefined => (seconds === undefined ? undefined : seconds * 1000);
  const mtimeMs = milliseconds(request.mtime) ?? detected?.mtimeMs ?? now;
  return {
    type: 'file',
    size,
    mode: request.mode ?? detected?.mode,
    uid: request.uid ?? detected?.uid,
    gid: request.gid ?? detected?.gid,
    mtimeMs,
    atimeMs: milliseconds(request.atime) ?? detected?.atimeMs ?? mtimeMs,
    ctimeMs: milliseconds(request.ctime) ?? detected?.ctimeMs ?? mtimeMs,
  };
}

/** Find the directory at `segments` below the space root, creating it and its missing parents. */
async function ensureDirectory(deps: ManualRegistrationDependencies, who: Identity, space: SpaceDoc, segments: string[]): Promise<FileDoc> {
  if (segments.length === 0) return fileDoc(deps.store, space.rootUuid);

  const path = segments.join('/');
  const found = await deps.lfs.lookupRelative(who, space.spaceId, path).catch((error: unknown) => {
    if (OpError.is(error) && error.kind === 'notFound') return undefined;
    throw error;
  });
  const directory = found ?? (await deps.lfs.createAtPath(who, space.spaceId, path, { type: 'DIR', createParents: true }));
  if (directory.type !== 'DIR') throw OpError.posix('enotdir', `"${path}" in space "${space.name}" is not a directory`);
  return fileDoc(deps.store, decodeFileId(directory.fileId).fileUuid);
}

async function registerNew(
  deps: ManualRegistrationDependencies,
  source: StorageEntrySource,
  parent: FileDoc,
  name: string,
  stat: StorageStat,
  storagePath: string,
): Promise<FileDoc> {
  const doc = await registerStorageEntry(deps.store, source, parent, name, stat, storagePath);
  if (doc === undefined) throw new OpError('internal', `registration of "${name}" produced no file`);
  return doc;
}

/** Replace the size, mode, owner ids and times of a registered file and record its location again. */
async function updateRegistered(
  deps: ManualRegistrationDependencies,
  source: StorageEntrySource,
  fileUuid: string,
  stat: StorageStat,
  storagePath: string,
): Promise<string> {
  const existing = await fileDoc(deps.store, fileUuid);
  if (existing.type !== 'REG' || existing.inodeUuid !== undefined) {
    throw OpError.posix('eexist', `"${existing.name}" exists and is not a registered regular file`, { name: existing.name });
  }

  const updated = await updateDocument<FileDoc>(deps.store, COLLECTIONS.file, fileUuid, (doc) => {
    doc.size = stat.size;
    if (stat.mode !== undefined) doc.mode = stat.mode & 0o7777;
    if (stat.uid !== undefined) doc.uid = stat.uid;
    if (stat.gid !== undefined) doc.gid = stat.gid;
    doc.mtimeMs = stat.mtimeMs;
    doc.atimeMs = stat.atimeMs ?? stat.mtimeMs;
    doc.ctimeMs = deps.clock.now();
  });
  const location = registeredLocation(source, updated.value, storagePath, stat.mtimeMs, stat.size);
  await deps.store.put(COLLECTIONS.location, locationKey(fileUuid, source.storageId), location);
  await deps.store.appendChange(updated.value.spaceId, { collection: COLLECTIONS.file, key: fileUuid, deleted: false });
  return fileUuid;
}

async function fileDoc(store: MetadataStore, uuid: string): Promise<FileDoc> {
  const document = await store.get<FileDoc>(COLLECTIONS.file, uuid);
  if (!document) throw OpError.notFound('file', { fileUuid: uuid });
  return document.value;
}
