import 'reflect-metadata';
import anyTest, { type TestFn } from 'ava';
import {
  DEFAULT_MEMBER_PRIVILEGES,
  SpaceMembership,
  systemClock,
  VIEWER_PRIVILEGES,
  type Ace,
  type Identity,
  type TokenCaveat,
} from '@op-worker/core';
import { API, send, startTestWorker, type Response, type TestWorker } from './helpers.js';

/**
 * Access decisions through REST and CDMI for users with different space privileges,
 * files with different modes and ACLs, and tokens with caveats. Every row of the table
 * runs once per interface, against the real worker.
 */

interface Context {
  worker: TestWorker;
  /** Token of each test user, by role. */
  tokens: Record<Role, string>;
  /** File ids by name (all in the space root). */
  ids: Record<string, string>;
  /** Id of the `team` group. */
  teamId: string;
  userIds: Record<Role, string>;
}

type Role = 'admin' | 'member' | 'viewer' | 'outsider' | 'grouped' | 'writer';
type Operation = 'read' | 'write' | 'xattr' | 'list' | 'create';
type Interface = 'rest' | 'cdmi';

const test = anyTest as TestFn<Context>;
const V = { 'X-CDMI-Specification-Version': '1.1.1' };
const CO = { ...V, 'Content-Type': 'application/cdmi-object' };
const READ_OBJECT = 0x1;
const WRITE_OBJECT = 0x2;
const READ_METADATA = 0x8;
const READ_ATTRIBUTES = 0x80;
const READ_ACCESS = READ_OBJECT | READ_METADATA | READ_ATTRIBUTES;

const FILES: Array<{ name: string; mode?: number; acl?: (context: Omit<Context, 'worker' | 'tokens'>) => Ace[]; type?: 'DIR' }> = [
  { name: 'f664', mode: 0o664 },
  { name: 'f640', mode: 0o640 },
  { name: 'f600', mode: 0o600 },
  { name: 'aclRead', acl: () => [{ acetype: 0, identifier: 'EVERYONE@', aceflags: 0, acemask: READ_ACCESS }] },
  {
    name: 'aclDenyMember',
    acl: ({ userIds }) => [
      { acetype: 1, identifier: userIds.member, aceflags: 0, acemask: READ_OBJECT | WRITE_OBJECT },
      { acetype: 0, identifier: 'EVERYONE@', aceflags: 0, acemask: READ_ACCESS | WRITE_OBJECT | 0x10 },
    ],
  },
  { name: 'aclGroup', acl: ({ teamId }) => [{ acetype: 0, identifier: teamId, aceflags: 0x40, acemask: READ_ACCESS }] },
  { name: 'aclOwner', mode: 0o666, acl: () => [{ acetype: 0, identifier: 'OWNER@', aceflags: 0, acemask: 0x1f01ff }] },
  { name: 'd775', mode: 0o775, type: 'DIR' },
  { name: 'd755', mode: 0o755, type: 'DIR' },
  { name: 'd700', mode: 0o700, type: 'DIR' },
];

/** [role, file, operation, allowed]; every row runs through REST and through CDMI. */
const TABLE: Array<[Role, string, Operation, boolean]> = [
  ['member', 'f664', 'read', true],
  ['member', 'f664', 'write', true],
  ['member', 'f664', 'xattr', true],
  ['member', 'f640', 'read', true],
  ['member', 'f640', 'write', false],
  ['member', 'f640', 'xattr', false],
  ['member', 'f600', 'read', false],
  ['member', 'f600', 'write', false],
  ['member', 'aclRead', 'read', true],
  ['member', 'aclRead', 'write', false],
  ['member', 'aclRead', 'xattr', false],
  ['member', 'aclDenyMember', 'read', false],
  ['member', 'aclDenyMember', 'write', false],
  ['member', 'aclGroup', 'read', false],
  ['member', 'aclOwner', 'read', false],
  ['member', 'd775', 'list', true],
  ['member', 'd775', 'create', true],
  ['member', 'd755', 'list', true],
  ['member', 'd755', 'create', false],
  ['member', 'd700', 'list', false],
  ['member', 'd700', 'create', false],
  ['viewer', 'f664', 'read', true],
  ['viewer', 'f664', 'write', false],
  ['viewer', 'f664', 'xattr', false],
  ['viewer', 'f640', 'read', true],
  ['viewer', 'f600', 'read', false],
  ['viewer', 'aclRead', 'read', true],
  ['viewer', 'd775', 'list', true],
  ['viewer', 'd775', 'create', false],
  ['outsider', 'f664', 'read', false],
  ['outsider', 'f664', 'write', false],
  ['outsider', 'd775', 'list', false],
  ['grouped', 'f664', 'read', true],
  ['grouped', 'f664', 'write', true],
  ['grouped', 'f600', 'read', false],
  ['grouped', 'aclGroup', 'read', true],
  ['grouped', 'aclGroup', 'write', false],
  ['grouped', 'aclDenyMember', 'read', true],
  ['grouped', 'aclDenyMember', 'write', true],
  ['grouped', 'd775', 'create', true],
  ['writer', 'f664', 'read', false],
  ['writer', 'f664', 'write', true],
  ['writer', 'd775', 'list', false],
  ['writer', 'd775', 'create', true],
  ['admin', 'f600', 'read', true],
  ['admin', 'f600', 'write', true],
  ['admin', 'aclGroup', 'write', true],
  ['admin', 'd700', 'create', true],
];

test.before(async (t) => {
  const worker = await startTestWorker();
  const { users, tokens, lfs, store } = worker.core;
  const membership = new SpaceMembership(store, systemClock);
  const spaceId = worker.space.spaceId;
  const adminWho: Identity = { userId: worker.admin.id, isAdmin: true };

  const userIds = { admin: worker.admin.id } as Record<Role, string>;
  const issued = { admin: worker.token } as Record<Role, string>;
  for (const role of ['member', 'viewer', 'outsider', 'grouped', 'writer'] as const) {
    const user = await users.create({ name: `authz-${role}` });
    userIds[role] = user.id;
    issued[role] = (await tokens.create(user.id, { ttlSeconds: 3600 })).token;
  }
  await membership.setMember(spaceId, { userId: userIds.member });
  await membership.setMember(spaceId, { userId: userIds.viewer }, VIEWER_PRIVILEGES);
  await membership.setMember(spaceId, { userId: userIds.writer }, ['space_view', 'space_write_data']);

  // `grouped` is a member only through `sub`, a subgroup of `team`, which is the space member.
  const team = await membership.groups.create('team');
  const sub = await membership.groups.create('sub');
  await membership.groups.addSubgroup(team.id, sub.id);
  await membership.groups.addUser(sub.id, userIds.grouped);
  await membership.setMember(spaceId, { groupId: team.id }, DEFAULT_MEMBER_PRIVILEGES);

  const ids: Record<string, string> = {};
  for (const file of FILES) {
    const created = await lfs.create(adminWho, worker.space.dirId, file.name, { type: file.type ?? 'REG', mode: file.mode });
    ids[file.name] = created.fileId;
    if (file.type === 'DIR') await lfs.create(adminWho, created.fileId, 'child', { type: 'REG' });
    if (file.acl) await lfs.setXattrs(adminWho, created.fileId, { cdmi_acl: file.acl({ ids, teamId: team.id, userIds }) as never });
  }
  t.context = { worker, tokens: issued, ids, teamId: team.id, userIds };
});

test.after.always(async (t) => {
  await t.context.worker.close();
});

let uniqueName = 0;

/** Run one operation on a file of the space root through one interface. */
async function perform(context: Context, token: string, via: Interface, operation: Operation, name: string): Promise<Response> {
  const { worker, ids } = context;
  const id = ids[name]!;
  const options = { token };
  if (via === 'rest') {
    switch (operation) {
      case 'read':
        return send(worker, `${API}/data/${id}/content`, options);
      case 'write':
        return send(worker, `${API}/data/${id}/content`, { ...options, method: 'PUT', body: 'new content' });
      case 'xattr':
        return send(worker, `${API}/data/${id}/metadata/xattrs`, { ...options, method: 'PUT', body: '{"color":"red"}', headers: { 'Content-Type': 'application/json' } });
      case 'list':
        return send(worker, `${API}/data/${id}/children`, options);
      case 'create':
        return send(worker, `${API}/data/${id}/children?name=rest-${++uniqueName}`, { ...options, method: 'POST', body: 'x' });
    }
  }
  switch (operation) {
    case 'read':
      return send(worker, `/cdmi/default/${name}`, options);
    case 'write':
      return send(worker, `/cdmi/default/${name}`, { ...options, method: 'PUT', body: 'new content' });
    case 'xattr':
      return send(worker, `/cdmi/default/${name}?metadata:color`, { ...options, method: 'PUT', headers: CO, body: '{"metadata":{"color":"red"}}' });
    case 'list':
      return send(worker, `/cdmi/default/${name}/`, { ...options, headers: V });
    case 'create':
      return send(worker, `/cdmi/default/${name}/cdmi-${++uniqueName}`, { ...options, method: 'PUT', body: 'x' });
  }
}

function assertDecision(t: { true(value: boolean, message?: string): void; is(a: unknown, b: unknown, message?: string): void }, response: Response, allowed: boolean, label: string): void {
  if (allowed) {
    t.true(response.status >= 200 && response.status < 300, `${label}: expected success, got ${response.status} ${response.text.slice(0, 200)}`);
    return;
  }
  t.is(response.status, 403, `${label}: expected 403, got ${response.status} ${response.text.slice(0, 200)}`);
}

for (const via of ['rest', 'cdmi'] as const) {
  for (const [role, name, operation, allowed] of TABLE) {
    test.serial(`${via} ${role} ${operation} ${name} ${allowed ? 'allowed' : 'denied'}`, async (t) => {
      const response = await perform(t.context, t.context.tokens[role], via, operation, name);
      assertDecision(t, response, allowed, `${via} ${role} ${operation} ${name}`);
    });
  }
}

/** [caveats, file, operation, interface, allowed]: a member's token limited by caveats. */
const CAVEAT_TABLE: Array<[string, (context: Context) => TokenCaveat[], string, Operation, Interface, boolean]> = [
  ['readonly', () => [{ type: 'data.readonly' }], 'f664', 'read', 'rest', true],
  ['readonly', () => [{ type: 'data.readonly' }], 'f664', 'write', 'rest', false],
  ['readonly', () => [{ type: 'data.readonly' }], 'f664', 'write', 'cdmi', false],
  ['readonly', () => [{ type: 'data.readonly' }], 'f664', 'xattr', 'cdmi', false],
  ['readonly', () => [{ type: 'data.readonly' }], 'd775', 'create', 'rest', false],
  ['readonly', () => [{ type: 'data.readonly' }], 'd775', 'list', 'cdmi', true],
  ['path d775', (c) => [pathCaveat(c, 'd775')], 'd775', 'create', 'rest', true],
  ['path d775', (c) => [pathCaveat(c, 'd775')], 'f664', 'read', 'rest', false],
  ['path d775', (c) => [pathCaveat(c, 'd775')], 'f664', 'read', 'cdmi', false],
  ['path f664', (c) => [pathCaveat(c, 'f664')], 'f664', 'write', 'cdmi', true],
  ['path f664 and d775', (c) => [pathCaveat(c, 'f664'), pathCaveat(c, 'd775')], 'f664', 'read', 'rest', false],
  ['objectid f664', (c) => [{ type: 'data.objectid', whitelist: [c.ids['f664']!] }], 'f664', 'read', 'rest', true],
  ['objectid f664', (c) => [{ type: 'data.objectid', whitelist: [c.ids['f664']!] }], 'f640', 'read', 'rest', false],
  ['interface cdmi', () => [{ type: 'interface', interface: 'cdmi' }], 'f664', 'read', 'cdmi', true],
  ['interface cdmi', () => [{ type: 'interface', interface: 'cdmi' }], 'f664', 'read', 'rest', false],
  ['interface rest', () => [{ type: 'interface', interface: 'rest' }], 'f664', 'read', 'cdmi', false],
  ['ip loopback', () => [{ type: 'ip', whitelist: ['127.0.0.0/8'] }], 'f664', 'read', 'rest', true],
  ['ip elsewhere', () => [{ type: 'ip', whitelist: ['10.0.0.0/8', '::1/128'] }], 'f664', 'read', 'rest', false],
  ['readonly on owner', () => [{ type: 'data.readonly' }], 'f664', 'write', 'rest', false],
];

function pathCaveat(context: Context, name: string): TokenCaveat {
  return { type: 'data.path', whitelist: [`/${context.worker.space.spaceId}/${name}`] };
}

for (const [label, caveats, name, operation, via, allowed] of CAVEAT_TABLE) {
  test.serial(`caveat ${label}: ${via} ${operation} ${name} ${allowed ? 'allowed' : 'denied'}`, async (t) => {
    const role: Role = label === 'readonly on owner' ? 'admin' : 'member';
    const token = (await t.context.worker.core.tokens.create(t.context.userIds[role], { ttlSeconds: 600, caveats: caveats(t.context) })).token;
    const response = await perform(t.context, token, via, operation, name);
    if (allowed || response.status !== 401) {
      assertDecision(t, response, allowed, `${label} ${via} ${operation} ${name}`);
      return;
    }
    // Request caveats (interface, ip) make the token itself invalid for this request.
    t.is(response.json?.error?.details?.authError, 'tokenCaveatUnverified');
  });
}

test.serial('denial names errno and privilege', async (t) => {
  const response = await perform(t.context, t.context.tokens.viewer, 'rest', 'write', 'f664');
  t.is(response.status, 403);
  t.is(response.json.error.id, 'posix');
  t.is(response.json.error.details.errno, 'eacces');
  t.regex(response.json.error.description, /space_write_data/);
});

test.serial('outsider gets forbidden', async (t) => {
  const response = await perform(t.context, t.context.tokens.outsider, 'rest', 'read', 'f664');
  t.is(response.status, 403);
  t.is(response.json.error.id, 'forbidden');
});

test.serial('mode denial names the mode', async (t) => {
  const response = await perform(t.context, t.context.tokens.member, 'rest', 'write', 'f640');
  t.is(response.status, 403);
  t.regex(response.json.error.description, /mode 640/);
});

test.serial('table has at least 80 cases', (t) => {
  t.true(TABLE.length * 2 + CAVEAT_TABLE.length >= 80);
});
