import { ADMIN_PREFIX, addStoragesBody, modifyStorageBody, supportBody } from '../admin/router.js';
import { addGroupMemberBody, addSpaceMemberBody, createGroupBody, createUserBody, setPrivilegesBody } from '../admin/identity.js';
import { createTokenBody } from '../admin/tokens.js';
import { changesBody, changesQuery } from '../rest/changes.js';
import { timeSeriesQueryBody } from '../rest/time-series-query.js';
import {
  REST_PREFIX,
  attributesQuery,
  createAtPathQuery,
  createQuery,
  downloadQuery,
  listQuery,
  recursiveQuery,
  setAttributesBody,
  updateContentQuery,
} from '../rest/files.js';
import { getXattrsQuery, jsonMetadataQuery, removeXattrsBody, setXattrsBody, symlinkQuery } from '../rest/metadata.js';
import { registerBody } from '../rest/register.js';
import { createShareBody, updateShareBody } from '../rest/shares.js';
import { routeKey, type RouteDoc } from './document.js';

/** Path of the served OpenAPI document, below the REST prefix. */
export const OPENAPI_PATH = `${REST_PREFIX}/openapi.json`;

const rest = (method: string, path: string, doc: RouteDoc): [string, RouteDoc] => [routeKey(method, `${REST_PREFIX}${path}`), doc];
const admin = (method: string, path: string, doc: RouteDoc): [string, RouteDoc] => [routeKey(method, `${ADMIN_PREFIX}${path}`), doc];

/**
 * Summaries and validators of the served routes. GET routes that also accept their
 * options as a JSON body (listings, attributes) document the query form here.
 */
export const ROUTE_DOCS: ReadonlyMap<string, RouteDoc> = new Map([
  [routeKey('GET', '/health'), { summary: 'Report that the worker is healthy', public: true }],
  [routeKey('GET', '/configuration'), { summary: 'Show public facts about this provider', public: true }],
  [routeKey('GET', OPENAPI_PATH), { summary: 'Return this OpenAPI document', public: true }],
  rest('GET', '/health', { summary: 'Report that the worker is healthy', public: true }),
  rest('GET', '/configuration', { summary: 'Show public facts about this provider', public: true }),
  rest('GET', '/spaces', { summary: 'List the spaces of the caller' }),
  rest('GET', '/spaces/:sid', { summary: 'Show one space' }),
  rest('POST', '/lookup-file-id/{*path}', { summary: 'Resolve a logical path to a file id' }),
  rest('POST', '/data/register', { summary: 'Register a file that lies on an imported storage', body: registerBody }),
  rest('POST', '/data/:id/children', { summary: 'Create a file, directory or link in a directory', query: createQuery }),
  rest('GET', '/data/:id/children', { summary: 'List a directory', query: listQuery }),
  rest('GET', '/data/:id/files', { summary: 'List the files below a directory recursively', query: recursiveQuery }),
  rest('GET', '/data/:id/hardlinks', { summary: 'List the hard links of a file' }),
  rest('GET', '/data/:id/hardlinks/:hid', { summary: 'Test whether two files are hard links of one inode' }),
  rest('GET', '/data/:id/symlink_value', { summary: 'Read the target path of a symbolic link' }),
  rest('PUT', '/data/:id/path/{*path}', { summary: 'Create a file at a path relative to a directory', query: createAtPathQuery }),
  rest('GET', '/data/:id/path/{*path}', { summary: 'Download a file, or a directory as TAR, by relative path', query: downloadQuery }),
  rest('DELETE', '/data/:id/path/{*path}', { summary: 'Remove a file or directory by relative path' }),
  rest('GET', '/data/:id/content', { summary: 'Download a file (with Range), or a directory as TAR', query: downloadQuery }),
  rest('PUT', '/data/:id/content', { summary: 'Replace or partly overwrite the content of a file', query: updateContentQuery }),
  rest('GET', '/data/:id', { summary: 'Show the attributes of a file', query: attributesQuery }),
  rest('PUT', '/data/:id', { summary: 'Set the permission bits of a file', body: setAttributesBody }),
  rest('DELETE', '/data/:id', { summary: 'Remove a file, or a directory with everything below it' }),
  rest('GET', '/data/:id/metadata/xattrs', { summary: 'Read extended attributes', query: getXattrsQuery }),
  rest('PUT', '/data/:id/metadata/xattrs', { summary: 'Set extended attributes', query: symlinkQuery, body: setXattrsBody }),
  rest('DELETE', '/data/:id/metadata/xattrs', { summary: 'Remove extended attributes', query: symlinkQuery, body: removeXattrsBody }),
  rest('GET', '/data/:id/metadata/json', { summary: 'Read JSON metadata, or a part of it by key path', query: jsonMetadataQuery }),
  rest('PUT', '/data/:id/metadata/json', { summary: 'Set JSON metadata, or a part of it by key path', query: jsonMetadataQuery }),
  rest('DELETE', '/data/:id/metadata/json', { summary: 'Remove JSON metadata', query: symlinkQuery }),
  rest('GET', '/data/:id/metadata/rdf', { summary: 'Read RDF metadata', query: symlinkQuery }),
  rest('PUT', '/data/:id/metadata/rdf', { summary: 'Set RDF metadata (application/rdf+xml body)', query: symlinkQuery }),
  rest('DELETE', '/data/:id/metadata/rdf', { summary: 'Remove RDF metadata', query: symlinkQuery }),
  rest('GET', '/data/:id/distribution', { summary: 'Show which storages hold which bytes of a file' }),
  rest('GET', '/data/:id/storage_locations', { summary: 'Show where a file lies on each storage' }),
  rest('GET', '/data/:id/dir_size_stats', { summary: 'Show the current size statistics of a directory', body: timeSeriesQueryBody }),
  rest('POST', '/changes/metadata/:sid', { summary: 'Stream the file changes of a space', query: changesQuery, body: changesBody }),
  rest('POST', '/shares', { summary: 'Share a file or directory read-only', body: createShareBody }),
  rest('GET', '/shares/:shid', { summary: 'Show a share' }),
  rest('PATCH', '/shares/:shid', { summary: 'Rename a share or change its description', body: updateShareBody }),
  rest('DELETE', '/shares/:shid', { summary: 'Remove a share, keeping the data' }),
  admin('GET', '/provider/storages', { summary: 'List the storages' }),
  admin('POST', '/provider/storages', { summary: 'Add storages, each verified before it is recorded', body: addStoragesBody }),
  admin('GET', '/provider/storages/:id', { summary: 'Show a storage; secret options read back as *****' }),
  admin('PATCH', '/provider/storages/:id', { summary: 'Modify a storage and verify it again', body: modifyStorageBody }),
  admin('DELETE', '/provider/storages/:id', { summary: 'Remove a storage that supports no space' }),
  admin('GET', '/provider/spaces', { summary: 'List the supported spaces' }),
  admin('POST', '/provider/spaces', { summary: 'Support a space with a storage', body: supportBody }),
  admin('GET', '/provider/spaces/:id', { summary: 'Show the support of a space' }),
  admin('GET', '/provider/spaces/:id/storage-import/auto/info', { summary: 'Show the state of the storage import scan' }),
  admin('GET', '/provider/spaces/:id/storage-import/auto/stats', { summary: 'Show storage import statistics' }),
  admin('POST', '/provider/spaces/:id/storage-import/auto/force-start', { summary: 'Start a storage import scan now' }),
  admin('POST', '/provider/spaces/:id/storage-import/auto/force-stop', { summary: 'Stop the running storage import scan' }),
  admin('GET', '/provider/users', { summary: 'List the users of this provider' }),
  admin('POST', '/provider/users', { summary: 'Create a user', body: createUserBody }),
  admin('DELETE', '/provider/users/:id', { summary: 'Delete a user (id or name): revoke its tokens and remove it from its groups and spaces; 409 for a space owner' }),
  admin('GET', '/provider/groups', { summary: 'List the groups' }),
  admin('POST', '/provider/groups', { summary: 'Create a group', body: createGroupBody }),
  admin('DELETE', '/provider/groups/:gid', { summary: 'Delete a group (id or name): it leaves its spaces and parent groups; its users and subgroups stay' }),
  admin('POST', '/provider/groups/:gid/members', { summary: 'Add a user or a subgroup (id or name) to a group', body: addGroupMemberBody }),
  admin('DELETE', '/provider/groups/:gid/members/users/:memberId', { summary: 'Remove a direct user member (id or name) from a group; 404 when not a direct member' }),
  admin('DELETE', '/provider/groups/:gid/members/groups/:memberId', { summary: 'Remove a direct subgroup (id or name) from a group; 404 when not a direct subgroup' }),
  admin('POST', '/provider/users/:id/tokens', { summary: 'Issue an access token for a user (id or name) with an optional lifetime and caveats', body: createTokenBody }),
  admin('DELETE', '/provider/tokens/:tokenId', { summary: 'Revoke an access token by id; every worker refuses it within a second' }),
  admin('GET', '/provider/token-keys', { summary: 'List the token signing keys: ids, creation times and which one is current, never the keys' }),
  admin('POST', '/provider/token-keys/rotate', { summary: 'Add a signing key for new tokens; tokens signed with older keys stay valid' }),
  admin('DELETE', '/provider/token-keys/:keyId', { summary: 'Retire a signing key: every token it signed is refused; the current key cannot be retired' }),
  admin('GET', '/provider/spaces/:id/members', { summary: 'List the members of a space with their own and effective privileges' }),
  admin('POST', '/provider/spaces/:id/members', { summary: 'Add a user or group to a space with privileges (default: the member preset)', body: addSpaceMemberBody }),
  admin('PUT', '/provider/spaces/:id/members/users/:memberId', { summary: 'Replace the space privileges of a user member', body: setPrivilegesBody }),
  admin('PUT', '/provider/spaces/:id/members/groups/:memberId', { summary: 'Replace the space privileges of a group member', body: setPrivilegesBody }),
  admin('DELETE', '/provider/spaces/:id/members/users/:memberId', { summary: 'Remove a user from a space' }),
  admin('DELETE', '/provider/spaces/:id/members/groups/:memberId', { summary: 'Remove a group from a space' }),
]);
