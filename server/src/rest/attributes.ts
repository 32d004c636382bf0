import { OpError, type FileAttributes, type FileQos, type JsonValue } from '@op-worker/core';
import { toRestAcl } from '../http/acl.js';

/**
 * File attributes with the REST API's 21.02.7 names: the whole attribute model. Parts of
 * Onedata's model this worker has no feature for report their empty state: no name
 * conflicts between providers, no datasets, no QoS requirements and no archive recalls.
 */
export const REST_ATTRIBUTE_NAMES = [
  'fileId',
  'index',
  'type',
  'activePermissionsType',
  'posixPermissions',
  'name',
  'path',
  'parentFileId',
  'displayGid',
  'displayUid',
  'creationTime',
  'atime',
  'mtime',
  'ctime',
  'size',
  'ownerUserId',
  'hardlinkCount',
  'acl',
  'conflictingName',
  'isFullyReplicatedLocally',
  'localReplicationRate',
  'originProviderId',
  'directShareIds',
  'symlinkValue',
  'hasCustomMetadata',
  'effProtectionFlags',
  'effDatasetProtectionFlags',
  'effDatasetInheritancePath',
  'effQosInheritancePath',
  'aggregateQosStatus',
  'archiveRecallRootFileId',
] as const;

/** Attributes shown when a request names none, as Onedata's default listing does. */
const DEFAULT_ATTRIBUTE_NAMES: readonly RestAttributeName[] = [
  'fileId', 'index', 'type', 'activePermissionsType', 'posixPermissions', 'name', 'path', 'parentFileId',
  'displayGid', 'displayUid', 'creationTime', 'atime', 'mtime', 'ctime', 'size', 'ownerUserId', 'hardlinkCount',
];

/** Attributes shown for files reached through a share, where the file's owner and location stay private. */
export const SHARE_ATTRIBUTE_NAMES: readonly RestAttributeName[] = [
  'fileId', 'index', 'type', 'activePermissionsType', 'posixPermissions', 'name', 'conflictingName', 'parentFileId',
  'creationTime', 'atime', 'mtime', 'ctime', 'size', 'directShareIds', 'symlinkValue', 'hasCustomMetadata',
];

/** Attributes that need more than the file's own document; the caller computes them only when selected. */
export interface ComputedAttributes {
  hasCustomMetadata?: boolean;
  /** Fraction of the file's bytes held by this provider's storages, 0..1. */
  localReplicationRate?: number;
  providerId?: string;
  /** Aggregate QoS status and inheritance path. Without it the file has no QoS requirements. */
  qos?: FileQos;
}

export type RestAttributeName = (typeof REST_ATTRIBUTE_NAMES)[number];

const KNOWN = new Set<string>(REST_ATTRIBUTE_NAMES);
const XATTR_PREFIX = 'xattr.';

/** Attribute names requested by a client: plain names and `xattr.<name>` entries. */
export interface AttributeSelection {
  names: readonly RestAttributeName[];
  xattrs: readonly string[];
}

export const ALL_ATTRIBUTES: AttributeSelection = { names: DEFAULT_ATTRIBUTE_NAMES, xattrs: [] };

const SHARED_DEFAULT: AttributeSelection = {
  names: DEFAULT_ATTRIBUTE_NAMES.filter((name) => SHARE_ATTRIBUTE_NAMES.includes(name)),
  xattrs: [],
};

/**
 * Check requested attribute names; undefined selects the default set. For a file reached
 * through a share (`shared`), only `SHARE_ATTRIBUTE_NAMES` and `xattr.<name>` may be requested.
 */
export function parseAttributeSelection(requested: readonly string[] | undefined, shared = false): AttributeSelection {
  if (requested === undefined) return shared ? SHARED_DEFAULT : ALL_ATTRIBUTES;

  const names: RestAttributeName[] = [];
  const xattrs: string[] = [];
  for (const name of requested) {
    if (name.startsWith(XATTR_PREFIX) && name.length > XATTR_PREFIX.length) {
      xattrs.push(name.slice(XATTR_PREFIX.length));
    } else if (shared && KNOWN.has(name) && !SHARE_ATTRIBUTE_NAMES.includes(name as RestAttributeName)) {
      throw OpError.badValue('attributes', `attribute "${name}" is not available through a share; available: ${SHARE_ATTRIBUTE_NAMES.join(', ')}, xattr.<name>`);
    } else if (KNOWN.has(name)) {
      names.push(name as RestAttributeName);
    } else {
      throw OpError.badValue('attributes', `unknown attribute "${name}"; known attributes: ${REST_ATTRIBUTE_NAMES.join(', ')}, xattr.<name>`);
    }
  }
  return { names, xattrs };
}

/** Format permission bits as Onedata does: three octal digits, e.g. "664". */
export function formatMode(mode: number): string {
  return (mode & 0o7777).toString(8).padStart(3, '0');
}

/** Map attributes to the REST shape, keeping the selected names; xattr values are filled by the caller. */
export function toRestAttributes(
  attributes: FileAttributes,
  selection: AttributeSelection,
  xattrValues: Record<string, JsonValue> = {},
  computed: ComputedAttributes = {},
): Record<string, unknown> {
  const regular = attributes.type !== 'DIR';
  const rate = computed.localReplicationRate ?? 1;
  const all: Record<RestAttributeName, unknown> = {
    fileId: attributes.fileId,
    index: attributes.index,
    type: attributes.type,
    activePermissionsType: (attributes.acl?.length ?? 0) > 0 ? 'acl' : 'posix',
    posixPermissions: formatMode(attributes.mode),
    name: attributes.name,
    path: attributes.path,
    parentFileId: attributes.parentFileId,
    displayGid: attributes.displayGid,
    displayUid: attributes.displayUid,
    creationTime: attributes.creationTime,
    atime: attributes.atime,
    mtime: attributes.mtime,
    ctime: attributes.ctime,
    size: attributes.size,
    ownerUserId: attributes.ownerUserId,
    hardlinkCount: attributes.hardlinkCount,
    acl: toRestAcl(attributes.acl ?? []),
    conflictingName: null,
    isFullyReplicatedLocally: regular ? rate >= 1 : null,
    localReplicationRate: rate,
    originProviderId: computed.providerId ?? null,
    directShareIds: attributes.directShareIds,
    symlinkValue: attributes.symlinkValue,
    hasCustomMetadata: computed.hasCustomMetadata ?? false,
    effProtectionFlags: [],
    effDatasetProtectionFlags: [],
    effDatasetInheritancePath: 'none',
    effQosInheritancePath: computed.qos?.inheritancePath ?? 'none',
    aggregateQosStatus: computed.qos?.status ?? 'fulfilled',
    archiveRecallRootFileId: null,
  };

  const shown: Record<string, unknown> = {};
  for (const name of selection.names) shown[name] = all[name];
  for (const name of selection.xattrs) shown[`${XATTR_PREFIX}${name}`] = xattrValues[name] ?? null;
  return shown;
}
