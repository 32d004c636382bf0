import { buildObjectId } from '@op-worker/core';
import { ApiError } from '../errors.js';

/**
 * CDMI capability objects. They are virtual, need no token, and have fixed object ids:
 * CDMI object ids wrapping the 32-character texts `0…01`, `0…02` and `0…03`, the same
 * ids Onedata uses.
 */

export const CAPABILITY_CONTENT_TYPE = 'application/cdmi-capability';
export const ROOT_CAPABILITY_ID = buildObjectId(Buffer.from('0'.repeat(31) + '1'));
export const CONTAINER_CAPABILITY_ID = buildObjectId(Buffer.from('0'.repeat(31) + '2'));
export const DATAOBJECT_CAPABILITY_ID = buildObjectId(Buffer.from('0'.repeat(31) + '3'));

const ROOT_CAPABILITIES = ['cdmi_dataobjects', 'cdmi_object_access_by_ID'];
/** Only what this worker does now: no ACLs, moves or copies through CDMI yet. */
const CONTAINER_CAPABILITIES = [
  'cdmi_size', 'cdmi_ctime', 'cdmi_atime', 'cdmi_mtime', 'cdmi_list_children', 'cdmi_list_children_range',
  'cdmi_read_metadata', 'cdmi_modify_metadata', 'cdmi_create_dataobject', 'cdmi_create_container', 'cdmi_delete_container',
];
const DATAOBJECT_CAPABILITIES = [
  'cdmi_size', 'cdmi_ctime', 'cdmi_atime', 'cdmi_mtime', 'cdmi_read_value', 'cdmi_read_value_range',
  'cdmi_read_metadata', 'cdmi_modify_value', 'cdmi_modify_value_range', 'cdmi_modify_metadata', 'cdmi_delete_dataobject',
];

function flags(names: readonly string[]): Record<string, string> {
  return Object.fromEntries(names.map((name) => [name, 'true']));
}

/** Build the capability object at `segments` below `cdmi_capabilities/`. */
export function capabilityObject(segments: readonly string[]): Record<string, unknown> {
  const common = { objectType: CAPABILITY_CONTENT_TYPE };
  const [first, ...rest] = segments;

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

  const child = { ...common, parentURI: 'cdmi_capabilities/', parentID: ROOT_CAPABILITY_ID, childrenrange: '', children: [] };
  if (rest.length === 0 && first === 'container') {
    return { ...child, objectID: CONTAINER_CAPABILITY_ID, objectName: 'container/', capabilities: flags(CONTAINER_CAPABILITIES) };
  }
  if (rest.length === 0 && first === 'dataobject') {
    return { ...child, objectID: DATAOBJECT_CAPABILITY_ID, objectName: 'dataobject/', capabilities: flags(DATAOBJECT_CAPABILITIES) };
  }
  throw new ApiError(404, 'notFound', `capability "cdmi_capabilities/${segments.join('/')}/" not found`);
}
