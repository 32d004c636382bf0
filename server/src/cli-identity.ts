import { Command, InvalidArgumentError } from 'commander';
import {
  IdentityRemoval,
  parsePrivileges,
  SpaceMembership,
  systemClock,
  type Core,
  type SpaceInfo,
  type SpaceMemberRef,
} from '@op-worker/core';
import { caveatsFromRequest } from './caveat-requests.js';

/** Runs an admin action against the configured store and prints its result as JSON. */
export type CoreAction = (options: { dataDir?: string; config?: string }, action: (core: Core) => Promise<unknown>) => Promise<void>;

interface CommonOptions {
  dataDir?: string;
  config?: string;
}

/**
 * Add the identity commands to the `op-worker` program: groups, space members with
 * their privileges, and tokens with caveats and signing-key rotation.
 */
export function registerIdentityCommands(
  program: Command,
  withCommonOptions: (command: Command) => Command,
  withCore: CoreAction,
): void {
  registerGroupCommands(program, withCommonOptions, withCore);
  registerTokenCommands(program, withCommonOptions, withCore);
}

/** Add `add-member`, `set-privileges`, `remove-member` and `members` to the `space` command. */
export function registerSpaceMemberCommands(space: Command, withCommonOptions: (command: Command) => Command, withCore: CoreAction): void {
  withCommonOptions(space.command('add-member <space> <member>'))
    .description('add a user (or with --group a group), by name or id, to a space (name or id)')
    .option('--group', 'the member is a group', false)
    .option('--privileges <list>', 'comma-separated space privileges or a preset: member (default), viewer, all, none', 'member')
    .action((spaceRef: string, memberRef: string, options: CommonOptions & { group: boolean; privileges: string }) =>
      withCore(options, async (core) => {
        const target = await resolveSpace(core, spaceRef);
        const member = await resolveMember(core, memberRef, options.group);
        const privileges = parsePrivileges(options.privileges);
        await membershipOf(core).addMember(target.spaceId, member, privileges);
        return { spaceId: target.spaceId, ...member, privileges };
      }),
    );
  withCommonOptions(space.command('set-privileges <space> <member>'))
    .description('replace the space privileges of a member (user, or with --group a group)')
    .option('--group', 'the member is a group', false)
    .requiredOption('--privileges <list>', 'comma-separated space privileges or a preset: member, viewer, all, none')
    .action((spaceRef: string, memberRef: string, options: CommonOptions & { group: boolean; privileges: string }) =>
      withCore(options, async (core) => {
        const target = await resolveSpace(core, spaceRef);
        const member = await resolveMember(core, memberRef, options.group);
        const privileges = parsePrivileges(options.privileges);
        await membershipOf(core).setPrivileges(target.spaceId, member, privileges);
        return { spaceId: target.spaceId, ...member, privileges };
      }),
    );
  withCommonOptions(space.command('remove-member <space> <member>'))
    .description('remove a user (or with --group a group) from a space')
    .option('--group', 'the member is a group', false)
    .action((spaceRef: string, memberRef: string, options: CommonOptions & { group: boolean }) =>
      withCore(options, async (core) => {
        const target = await resolveSpace(core, spaceRef);
        const member = await resolveMember(core, memberRef, options.group);
        await membershipOf(core).removeMember(target.spaceId, member);
        return { spaceId: target.spaceId, removed: member };
      }),
    );
  withCommonOptions(space.command('members <space>'))
    .description('list the users and groups of a space with their privileges')
    .action((spaceRef: string, options: CommonOptions) =>
      withCore(options, async (core) => membershipOf(core).list((await resolveSpace(core, spaceRef)).spaceId)),
    );
}

/** Add `delete` to the `user` command. */
export function registerUserDeleteCommand(user: Command, withCommonOptions: (command: Command) => Command, withCore: CoreAction): void {
  withCommonOptions(user.command('delete <user>'))
    .description('delete a user (name or id): revokes its tokens and removes it from its groups and spaces; a space owner cannot be deleted')
    .action((userRef: string, options: CommonOptions) =>
      withCore(options, async (core) => ({ deleted: userRef, ...(await removalOf(core).deleteUser(userRef)) })),
    );
}

function registerGroupCommands(program: Command, withCommonOptions: (command: Command) => Command, withCore: CoreAction): void {
  const group = program.command('group').description('manage groups of users; groups may contain groups');
  withCommonOptions(group.command('create <name>'))
    .description('create a group')
    .action((name: string, options: CommonOptions) => withCore(options, (core) => membershipOf(core).groups.create(name)));
  withCommonOptions(group.command('add-member <group>'))
    .description('add a user or a subgroup to a group (names or ids)')
    .option('--user <user>', 'user to add')
    .option('--group <group>', 'group to add as a subgroup')
    .action((groupRef: string, options: CommonOptions & MemberOptions) =>
      withCore(options, (core) => changeGroupMember(core, groupRef, options, 'add')),
    );
  withCommonOptions(group.command('remove-member <group>'))
    .description('remove a direct user member or a subgroup (names or ids) from a group; they lose what they held only through it')
    .option('--user <user>', 'user to remove')
    .option('--group <group>', 'subgroup to remove')
    .action((groupRef: string, options: CommonOptions & MemberOptions) =>
      withCore(options, (core) => changeGroupMember(core, groupRef, options, 'remove')),
    );
  withCommonOptions(group.command('delete <group>'))
    .description('delete a group (name or id): it leaves its spaces and parent groups; its users and subgroups stay')
    .action((groupRef: string, options: CommonOptions) =>
      withCore(options, async (core) => ({ deleted: groupRef, ...(await removalOf(core).deleteGroup(groupRef)) })),
    );
  withCommonOptions(group.command('list'))
    .description('list groups')
    .action((options: CommonOptions) => withCore(options, (core) => membershipOf(core).groups.list()));
}

function registerTokenCommands(program: Command, withCommonOptions: (command: Command) => Command, withCore: CoreAction): void {
  const token = program.command('token').description('manage access tokens');
  withCommonOptions(token.command('create <user>'))
    .description('issue an access token for a user (name or id) and print it')
    .option('--ttl <seconds>', 'token lifetime in seconds (default 30 days)', parsePositiveInteger)
    .option(
      '--caveat <caveat>',
      'limit the token (repeatable): time<UNIX_SECONDS, ip=CIDR|CIDR, interface=rest|cdmi, data.readonly, data.path=/SPACE/PATH|..., data.objectid=ID|...',
      (value: string, previous: string[]) => [...previous, value],
      [] as string[],
    )
    .action((userRef: string, options: CommonOptions & { ttl?: number; caveat: string[] }) =>
      withCore(options, async (core) => {
        const owner = await core.users.resolve(userRef);
        const caveats = await caveatsFromRequest(options.caveat, core.spaces);
        return core.tokens.create(owner.id, { ttlSeconds: options.ttl, caveats });
      }),
    );
  withCommonOptions(token.command('revoke <tokenId>'))
    .description('revoke a token by its id; later requests with it get 401 (on every worker within a second)')
    .action((tokenId: string, options: CommonOptions) =>
      withCore(options, async (core) => {
        await core.tokens.revoke(tokenId);
        return { revoked: tokenId };
      }),
    );
  withCommonOptions(token.command('rotate-key'))
    .description('add a signing key for new tokens; tokens signed with older keys stay valid until those are retired')
    .action((options: CommonOptions) => withCore(options, (core) => core.tokens.rotateSigningKey()));
  withCommonOptions(token.command('retire-key <keyId>'))
    .description('retire a signing key: every token it signed is rejected from then on')
    .action((keyId: string, options: CommonOptions) =>
      withCore(options, async (core) => {
        await core.tokens.retireSigningKey(keyId);
        return { retired: keyId };
      }),
    );
  withCommonOptions(token.command('keys'))
    .description('list signing key ids (never the keys)')
    .action((options: CommonOptions) => withCore(options, (core) => core.tokens.listSigningKeys()));
}

function removalOf(core: Core): IdentityRemoval {
  return new IdentityRemoval(core.store, systemClock, core.users, core.tokens);
}

function membershipOf(core: Core): SpaceMembership {
  return new SpaceMembership(core.store, systemClock);
}

async function resolveMember(core: Core, ref: string, isGroup: boolean): Promise<SpaceMemberRef> {
  if (isGroup) return { groupId: (await membershipOf(core).groups.resolve(ref)).id };
  return { userId: (await core.users.resolve(ref)).id };
}

async function resolveSpace(core: Core, ref: string): Promise<SpaceInfo> {
  const byName = await core.spaces.findByName(ref);
  if (byName !== undefined) return byName;
  return core.spaces.get(ref);
}

function parsePositiveInteger(value: string): number {
  if (!/^[1-9]\d*$/.test(value)) throw new InvalidArgumentError('expected a positive integer');
  return Number(value);
}

/** Options of `group add-member` and `group remove-member`: exactly one is given. */
interface MemberOptions {
  user?: string;
  group?: string;
}

/** Add or remove the user or subgroup that `options` names (name or id) in a group. */
async function changeGroupMember(core: Core, groupRef: string, options: MemberOptions, change: 'add' | 'remove'): Promise<unknown> {
  if ((options.user === undefined) === (options.group === undefined)) {
    throw new InvalidArgumentError('give exactly one of --user or --group');
  }
  const groups = membershipOf(core).groups;
  const parent = await groups.resolve(groupRef);

  if (options.user !== undefined) {
    const userId = (await core.users.resolve(options.user)).id;
    return change === 'add' ? groups.addUser(parent.id, userId) : groups.removeUser(parent.id, userId);
  }
  const childId = (await groups.resolve(options.group as string)).id;
  return change === 'add' ? groups.addSubgroup(parent.id, childId) : groups.removeSubgroup(parent.id, childId);
}
