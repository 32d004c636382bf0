import type Router from '@koa/router';
import {
  COLLECTIONS,
  IdentityRemoval,
  OpError,
  parsePrivileges,
  SpaceMembership,
  systemClock,
  type Core,
  type MetadataStore,
  type SpaceDoc,
  type SpaceMemberRef,
  type SpacePrivilege,
  type TokenService,
  type UserService,
} from '@op-worker/core';
import type { SpaceLookup } from '../caveat-requests.js';
import { readJsonBody } from '../http/json-body.js';
import { bodyValidator } from '../http/validate.js';
import type { AppState } from '../state.js';
import { registerTokenRoutes } from './tokens.js';

/** Services behind the identity routes, the same ones the `op-worker` CLI uses. */
export interface IdentityDependencies {
  users: UserService;
  membership: SpaceMembership;
  /** Deletes users and groups with their tokens and memberships. */
  removal: IdentityRemoval;
  /** Store read for space documents only, because every change goes through `membership`. */
  store: MetadataStore;
  /** Issues and revokes access tokens and manages their signing keys. */
  tokens: TokenService;
  /** Turns space names in `data.path` caveats into space ids. */
  spaces: SpaceLookup;
}

/** Build the identity services from the core, as the CLI does. */
export function identityDependencies(core: Pick<Core, 'users' | 'store' | 'tokens' | 'spaces'>): IdentityDependencies {
  return {
    users: core.users,
    membership: new SpaceMembership(core.store, systemClock),
    removal: new IdentityRemoval(core.store, systemClock, core.users, core.tokens),
    store: core.store,
    tokens: core.tokens,
    spaces: core.spaces,
  };
}

/** Privilege list: names, one comma-separated string, or a preset (`member`, `viewer`, `all`, `none`). */
const privilegesSchema = { anyOf: [{ type: 'array', items: { type: 'string' } }, { type: 'string' }] };

export const createUserBody = bodyValidator<{ name: string; isAdmin?: boolean }>({
  type: 'object',
  properties: { name: { type: 'string', minLength: 1 }, isAdmin: { type: 'boolean' } },
  required: ['name'],
  additionalProperties: false,
});

export const createGroupBody = bodyValidator<{ name: string }>({
  type: 'object',
  properties: { name: { type: 'string', minLength: 1 } },
  required: ['name'],
  additionalProperties: false,
});

/** Member fields: exactly one of `userId` and `groupId`, each an id or a name. */
const memberRefSchema = {
  userId: { type: 'string', minLength: 1 },
  groupId: { type: 'string', minLength: 1 },
};

export const addGroupMemberBody = bodyValidator<{ userId?: string; groupId?: string }>({
  type: 'object',
  properties: memberRefSchema,
  minProperties: 1,
  additionalProperties: false,
});

export const addSpaceMemberBody = bodyValidator<{ userId?: string; groupId?: string; privileges?: string | string[] }>({
  type: 'object',
  properties: { ...memberRefSchema, privileges: privilegesSchema },
  minProperties: 1,
  additionalProperties: false,
});

export const setPrivilegesBody = bodyValidator<{ privileges: string | string[] }>({
  type: 'object',
  properties: { privileges: privilegesSchema },
  required: ['privileges'],
  additionalProperties: false,
});

/**
 * Register the identity routes, an extension Onepanel does not have (Onezone keeps
 * identity there): users, groups with their members, space members with their
 * privileges, and access tokens with their signing keys. Every route runs behind the
 * admin router's administrator check.
 */
export function registerIdentityRoutes(router: Router<AppState>, deps: IdentityDependencies): void {
  registerUserAndGroupRoutes(router, deps);
  registerGroupMemberRemovalRoutes(router, deps);
  registerSpaceMemberRoutes(router, deps);
  registerTokenRoutes(router, deps);
}

function registerUserAndGroupRoutes(router: Router<AppState>, deps: IdentityDependencies): void {
  const groups = deps.membership.groups;

  router.get('/provider/users', async (ctx) => {
    ctx.body = { users: await deps.users.list() };
  });

  router.post('/provider/users', async (ctx) => {
    const body = createUserBody(await readJsonBody(ctx.req));
    const user = await deps.users.create(body);
    ctx.state.log.info({ userId: user.id, isAdmin: user.isAdmin }, 'user created through the admin API');
    ctx.status = 201;
    ctx.body = user;
  });

  router.delete('/provider/users/:id', async (ctx) => {
    const report = await deps.removal.deleteUser(ctx.params['id'] ?? '');
    ctx.state.log.info({ user: ctx.params['id'], spaceIds: report.spaceIds }, 'user deleted through the admin API');
    ctx.status = 204;
  });

  router.get('/provider/groups', async (ctx) => {
    ctx.body = { groups: await groups.list() };
  });

  router.post('/provider/groups', async (ctx) => {
    const body = createGroupBody(await readJsonBody(ctx.req));
    ctx.status = 201;
    ctx.body = await groups.create(body.name);
  });

  router.delete('/provider/groups/:gid', async (ctx) => {
    const report = await deps.removal.deleteGroup(ctx.params['gid'] ?? '');
    ctx.state.log.info({ group: ctx.params['gid'], spaceIds: report.spaceIds }, 'group deleted through the admin API');
    ctx.status = 204;
  });

  router.post('/provider/groups/:gid/members', async (ctx) => {
    const body = addGroupMemberBody(await readJsonBody(ctx.req));
    const parent = await groups.resolve(ctx.params['gid'] ?? '');
    const member = await resolveMember(deps, body);
    ctx.body = 'userId' in member ? await groups.addUser(parent.id, member.userId) : await groups.addSubgroup(parent.id, member.groupId);
  });
}

/**
 * Remove a direct member of a group, by id or name. A user or group that is not a direct
 * member is 404, also when it belongs only through a subgroup, so a 204 always means that
 * the membership is gone.
 */
function registerGroupMemberRemovalRoutes(router: Router<AppState>, deps: IdentityDependencies): void {
  const groups = deps.membership.groups;

  for (const kind of ['users', 'groups'] as const) {
    router.delete(`/provider/groups/:gid/members/${kind}/:memberId`, async (ctx) => {
      const parent = await groups.resolve(ctx.params['gid'] ?? '');
      const member = await memberRef(deps, kind, ctx.params['memberId'] ?? '');
      if ('userId' in member) await groups.removeUser(parent.id, member.userId);
      else await groups.removeSubgroup(parent.id, member.groupId);
      ctx.state.log.info({ groupId: parent.id, member }, 'group member removed through the admin API');
      ctx.status = 204;
    });
  }
}

function registerSpaceMemberRoutes(router: Router<AppState>, deps: IdentityDependencies): void {
  router.get('/provider/spaces/:id/members', async (ctx) => {
    ctx.body = await membersWithEffectivePrivileges(deps, ctx.params['id'] ?? '');
  });

  router.post('/provider/spaces/:id/members', async (ctx) => {
    const spaceId = ctx.params['id'] ?? '';
    const body = addSpaceMemberBody(await readJsonBody(ctx.req));
    const member = await resolveMember(deps, body);
    const privileges = body.privileges === undefined ? undefined : parsePrivileges(body.privileges);
    await deps.membership.addMember(spaceId, member, privileges);
    ctx.state.log.info({ spaceId, ...member, privileges }, 'space member added through the admin API');
    ctx.status = 201;
    ctx.body = { spaceId, ...member, privileges: await directPrivileges(deps, spaceId, member) };
  });

  for (const kind of ['users', 'groups'] as const) {
    router.put(`/provider/spaces/:id/members/${kind}/:memberId`, async (ctx) => {
      const spaceId = ctx.params['id'] ?? '';
      const member = await memberRef(deps, kind, ctx.params['memberId'] ?? '');
      const privileges = parsePrivileges(setPrivilegesBody(await readJsonBody(ctx.req)).privileges);
      await deps.membership.setPrivileges(spaceId, member, privileges);
      ctx.state.log.info({ spaceId, ...member, privileges }, 'space privileges set through the admin API');
      ctx.status = 204;
    });

    router.delete(`/provider/spaces/:id/members/${kind}/:memberId`, async (ctx) => {
      const spaceId = ctx.params['id'] ?? '';
      const member = await memberRef(deps, kind, ctx.params['memberId'] ?? '');
      await deps.membership.removeMember(spaceId, member);
      ctx.state.log.info({ spaceId, ...member }, 'space member removed through the admin API');
      ctx.status = 204;
    });
  }
}

/**
 * Members of a space: each user with their own privileges and their effective ones (own,
 * their groups', or all for the owner and administrators), each group with its own.
 */
async function membersWithEffectivePrivileges(deps: IdentityDependencies, spaceId: string): Promise<Record<string, unknown>> {
  const listing = await deps.membership.list(spaceId);
  // `list` has thrown notFound for an unknown space, so the document exists.
  const space = (await deps.store.get<SpaceDoc>(COLLECTIONS.space, spaceId))!.value;
  const users: Record<string, { privileges: SpacePrivilege[]; effectivePrivileges: SpacePrivilege[] }> = {};
  for (const [userId, privileges] of Object.entries(listing.users)) {
    const user = await deps.users.find(userId);
    const access = await deps.membership.accessOf({ userId, isAdmin: user?.isAdmin ?? false }, space);
    users[userId] = { privileges, effectivePrivileges: [...access.privileges].sort() };
  }
  const groups = Object.fromEntries(Object.entries(listing.groups).map(([groupId, privileges]) => [groupId, { privileges }]));
  return { spaceId, ownerUserId: listing.ownerUserId, users, groups };
}

async function directPrivileges(deps: IdentityDependencies, spaceId: string, member: SpaceMemberRef): Promise<SpacePrivilege[]> {
  const listing = await deps.membership.list(spaceId);
  return ('userId' in member ? listing.users[member.userId] : listing.groups[member.groupId]) ?? [];
}

/** Resolve `userId` or `groupId` (an id or a name) to a member reference; exactly one must be given. */
async function resolveMember(deps: IdentityDependencies, body: { userId?: string; groupId?: string }): Promise<SpaceMemberRef> {
  if ((body.userId === undefined) === (body.groupId === undefined)) {
    throw OpError.badValue('userId', 'missing member: give exactly one of the body fields "userId" and "groupId"');
  }
  if (body.userId !== undefined) return { userId: (await deps.users.resolve(body.userId)).id };
  return { groupId: (await deps.membership.groups.resolve(body.groupId!)).id };
}

/**
 * Resolve the member named in a path by id or by name, as in a body. An unknown member is
 * 404, so a removal by name cannot return 204 while the member stays.
 */
async function memberRef(deps: IdentityDependencies, kind: 'users' | 'groups', memberId: string): Promise<SpaceMemberRef> {
  return resolveMember(deps, kind === 'users' ? { userId: memberId } : { groupId: memberId });
}
