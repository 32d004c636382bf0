import { buildObjectId, type Capabilities, type SpaceService, type StorageRegistry } from '@op-worker/core';
import { ApiError } from '../errors.js';

/**
 * CDMI capability objects. They are virtual, need no token, and have fixed object ids:
 * CDMI object ids wrapping the 32-character texts `0…01`, `0…02` and `0…03`, the same
 * ids Onedata uses. `container/` and `dataobject/` list what the worker offers on a
 * storage that can do everything. A space whose preferred storage can do less (a
 * read-only POSIX storage, say) gets its own child capability object,
 * `container/<space id>/` and `dataobject/<space id>/`, and its objects name that one
 * in `capabilitiesURI`.
 */

export const CAPABILITY_CONTENT_TYPE = 'application/cdmi-capability';
export const ROOT_CAPABILITY_ID = buildObjectId(Buffer.from('0'.repeat(31) + '1'));
export const CONTAINER_CAPABILITY_ID = buildObjectId(Buffer.from('0'.repeat(31) + '2'));
export const DATAOBJECT_CAPABILITY_ID = buildObjectId(Buffer.from('0'.repeat(31) + '3'));

export type CapabilityKind = 'container' | 'dataobject';

/** Capabilities of the storage that receives a space's new data; undefined for an unknown space. */
export type SpaceCapabilities = (spaceId: string) => Promise<Capabilities | undefined>;

const ROOT_CAPABILITIES = [
  'cdmi_dataobjects', 'cdmi_security_access_control', 'cdmi_object_move_from_local', 'cdmi_object_copy_from_local', 'cdmi_object_access_by_ID',
];
const COMMON_CAPABILITIES = ['cdmi_acl', 'cdmi_size', 'cdmi_ctime', 'cdmi_atime', 'cdmi_mtime', 'cdmi_read_metadata', 'cdmi_modify_metadata'];

/** Each flag with the storage capabilities it needs; metadata flags need none because metadata lives in the metadata store. */
const CONTAINER_FLAGS: Record<string, (caps: Capabilities) => boolean> = {
  cdmi_list_children: () => true,
  cdmi_list_children_range: () => true,
  cdmi_create_dataobject: (caps) => caps.write,
  cdmi_create_container: (caps) => caps.write,
  cdmi_delete_container: (caps) => caps.delete,
  cdmi_move_container: (caps) => caps.write && (caps.rename || !caps.directories),
  cdmi_copy_container: (caps) => caps.read && caps.write,
  cdmi_move_dataobject: (caps) => caps.write && (caps.rename || !caps.directories),
  cdmi_copy_dataobject: (caps) => caps.read && caps.write,
};
const DATAOBJECT_FLAGS: Record<string, (caps: Capabilities) => boolean> = {
  cdmi_read_value: (caps) => caps.read,
  cdmi_read_value_range: (caps) => caps.read && caps.read_with_range,
  cdmi_modify_value: (caps) => caps.write,
  cdmi_modify_value_range: (caps) => caps.write && caps.write_at_offset,
  cdmi_delete_dataobject: (caps) => caps.delete,
};

/** The CDMI flags of one kind that a storage with `caps` supports; all of them when `caps` is undefined. */
export function capabilityFlags(kind: CapabilityKind, caps: Capabilities | undefined): string[] {
  const table = kind === 'container' ? CONTAINER_FLAGS : DATAOBJECT_FLAGS;
  const supported = Object.entries(table).filter(([, needs]) => caps === undefined || needs(caps)).map(([name]) => name);
  return [...COMMON_CAPABILITIES, ...supported];
}

/** `capabilitiesURI` for objects of `kind` in a space. */
export async function capabilitiesUriOf(spaceCapabilities: SpaceCapabilities | undefined, spaceId: string, kind: CapabilityKind): Promise<string> {
  const caps = spaceCapabilities === undefined ? undefined : await spaceCapabilities(spaceId);
  const reduced = capabilityFlags(kind, caps).length < capabilityFlags(kind, undefined).length;
  return reduced ? `cdmi_capabilities/${kind}/${spaceId}/` : `cdmi_capabilities/${kind}/`;
}

/** Build the capability object at `segments` below `cdmi_capabilities/`. */
export async function capabilityObject(segments: readonly string[], spaceCapabilities: SpaceCapabilities | undefined): Promise<Record<string, unknown>> {
  const common = { objectType: CAPABILITY_CONTENT_TYPE };
  const [first, second, ...rest] = segments;

  if (first === undefined) {
    return {
      ...common,
      objectID: ROOT_CAPABILITY_ID,
      objectName: 'cdmi_capabilities/',
      parentURI: '/',
      capabilities: flags(ROOT_CAPABILITIES),
      childrenrange: '0-1',
      children: ['container/', 'dataobject/'],
    };
  }

  const kind = first === 'container' || first === 'dataobject' ? first : undefined;
  const kindId = first === 'container' ? CONTAINER_CAPABILITY_ID : DATAOBJECT_CAPABILITY_ID;
  if (kind !== undefined && second === undefined) {
    const child = { ...common, parentURI: 'cdmi_capabilities/', parentID: ROOT_CAPABILITY_ID, childrenrange: '', children: [] };
    return { ...child, objectID: kindId, objectName: `${kind}/`, capabilities: flags(capabilityFlags(kind, undefined)) };
  }

  const caps = kind !== undefined && second !== undefined && rest.length === 0 ? await spaceCapabilities?.(second) : undefined;
  if (kind === undefined || second === undefined || caps === undefined) {
    throw new ApiError(404, 'notFound', `capability "cdmi_capabilities/${segments.join('/')}/" not found`);
  }
  return {
    ...common,
    objectID: buildObjectId(Buffer.from(`capabilities#${kind}#${second}`)),
    objectName: `${second}/`,
    parentURI: `cdmi_capabilities/${kind}/`,
    parentID: kindId,
    capabilities: flags(capabilityFlags(kind, caps)),
    childrenrange: '',
    children: [],
  };
}

/** Capability object ids that `cdmi_objectid/<id>/` maps to a path below `cdmi_capabilities/`. */
export function capabilityPathOfId(objectId: string): string[] | undefined {
  const id = objectId.toUpperCase();
  if (id === ROOT_CAPABILITY_ID) return [];
  if (id === CONTAINER_CAPABILITY_ID) return ['container'];
  if (id === DATAOBJECT_CAPABILITY_ID) return ['dataobject'];
  return undefined;
}

/**
 * Look up the capabilities of the storage that receives a space's new data: its first
 * supporting storage, with writes off when that storage is registered read-only.
 */
export function spaceCapabilitiesFrom(spaces: Pick<SpaceService, 'get'>, storages: Pick<StorageRegistry, 'get' | 'helper'>): SpaceCapabilities {
  return async (spaceId) => {
    const space = await spaces.get(spaceId).catch(() => undefined);
    const storageId = space?.storageIds[0];
    if (storageId === undefined) return undefined;

    const [record, helper] = await Promise.all([storages.get(storageId), storages.helper(storageId)]);
    const caps = helper.capabilities;
    return record.readonly ? { ...caps, write: false, write_at_offset: false, delete: false, truncate: false } : caps;
  };
}

function flags(names: readonly string[]): Record<string, string> {
  return Object.fromEntries(names.map((name) => [name, 'true']));
}
