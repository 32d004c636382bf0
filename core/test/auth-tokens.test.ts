import 'reflect-metadata';
import { createHmac } from 'node:crypto';
import anyTest, { type TestFn } from 'ava';
import {
  aclAllows,
  aclFromXattr,
  isUnreadableAcl,
  GroupService,
  OpError,
  parseCaveatText,
  parsePrivileges,
  SECRET_COLLECTION,
  SIGNING_KEY_RING_NAME,
  SqliteMetadataStore,
  TokenService,
  type Ace,
  type AclSubject,
  type Clock,
} from '../src/index.js';

interface Context {
  store: SqliteMetadataStore;
  clock: Clock & { nowMs: number };
  tokens: TokenService;
}

const test = anyTest as TestFn<Context>;

test.beforeEach(async (t) => {
  const store = new SqliteMetadataStore({ path: ':memory:' });
  await store.open();
  const clock = { nowMs: Date.UTC(2025, 0, 1), now(): number { return this.nowMs; } };
  t.context = { store, clock, tokens: new TokenService(store, clock) };
});

test.afterEach.always(async (t) => {
  await t.context.store.close();
});

function authError(error: unknown): unknown {
  return OpError.is(error) ? error.details['authError'] : undefined;
}

/** Sign a payload with the ring's current key, as a token issuer of a newer version would. */
async function signWithRing(context: Context, payload: Record<string, unknown>): Promise<string> {
  const ring = await context.store.get<{ currentKeyId: string; keys: Record<string, { key: string }> }>(SECRET_COLLECTION, SIGNING_KEY_RING_NAME);
  const keyId = ring!.value.currentKeyId;
  const body = `opw1.${Buffer.from(JSON.stringify({ ...payload, kid: keyId })).toString('base64url')}`;
  const signature = createHmac('sha256', Buffer.from(ring!.value.keys[keyId]!.key, 'base64')).update(body).digest('base64url');
  return `${body}.${signature}`;
}

test('caveats round trip through a token', async (t) => {
  const caveats = [{ type: 'data.readonly' as const }, { type: 'ip' as const, whitelist: ['10.0.0.0/8'] }];
  const issued = await t.context.tokens.create('u1', { caveats });
  t.deepEqual((await t.context.tokens.verify(issued.token)).caveats, caveats);
});

test('time caveat shortens the lifetime', async (t) => {
  const { tokens, clock } = t.context;
  const validUntil = clock.nowMs / 1000 + 10;
  const issued = await tokens.create('u1', { ttlSeconds: 3600, caveats: [{ type: 'time', validUntil }] });
  t.is(issued.expiresAt, validUntil);

  clock.nowMs += 10_000;
  t.is(authError(await t.throwsAsync(tokens.verify(issued.token))), 'tokenExpired');
});

test('invalid caveats are rejected at issue', async (t) => {
  const bad: unknown[] = [
    { type: 'ip', whitelist: ['300.1.1.1/8'] },
    { type: 'ip', whitelist: [] },
    { type: 'interface', interface: 'oneclient' },
    { type: 'data.path', whitelist: ['/space-name/dir'] },
    { type: 'geo.country', list: ['PL'] },
  ];
  for (const caveat of bad) {
    const error = await t.throwsAsync(t.context.tokens.create('u1', { caveats: [caveat as never] }));
    t.is(OpError.is(error) ? error.details['key'] : undefined, 'caveats', JSON.stringify(caveat));
  }
});

test('unknown caveat makes a token invalid', async (t) => {
  await t.context.tokens.create('u1');
  const iat = Math.floor(t.context.clock.nowMs / 1000);
  const token = await signWithRing(t.context, { tid: 'a'.repeat(32), uid: 'u1', iat, ttl: 60, cav: [{ type: 'geo.country', list: ['PL'] }] });
  t.is(authError(await t.throwsAsync(t.context.tokens.verify(token))), 'badToken');

  const known = await signWithRing(t.context, { tid: 'b'.repeat(32), uid: 'u1', iat, ttl: 60, cav: [{ type: 'data.readonly' }] });
  t.is((await t.context.tokens.verify(known)).userId, 'u1');
});

test('rotated keys verify until retired', async (t) => {
  const { tokens, store, clock } = t.context;
  const old = await tokens.create('u1');
  const rotated = await tokens.rotateSigningKey();
  const fresh = await tokens.create('u1');
  t.not(JSON.parse(Buffer.from(fresh.token.split('.')[1]!, 'base64url').toString()).kid, '0');

  await t.notThrowsAsync(tokens.verify(old.token));
  await t.notThrowsAsync(new TokenService(store, clock).verify(fresh.token));

  await tokens.retireSigningKey('0');
  t.is(authError(await t.throwsAsync(tokens.verify(old.token))), 'badToken');
  await t.notThrowsAsync(tokens.verify(fresh.token));

  const current = await t.throwsAsync(tokens.retireSigningKey(rotated.keyId));
  t.is(OpError.is(current) ? current.kind : undefined, 'badValue');
  t.deepEqual((await tokens.listSigningKeys()).map((key) => key.keyId), [rotated.keyId]);
});

test('retired key is named in the error', async (t) => {
  const { tokens } = t.context;
  const old = await tokens.create('u1');
  await tokens.rotateSigningKey();
  await tokens.retireSigningKey('0');

  const error = await t.throwsAsync(tokens.verify(old.token));
  t.is(authError(error), 'badToken');
  t.regex(error?.message ?? '', /signing key "0", which is retired or unknown/);
});

test('only canonical signature text verifies', async (t) => {
  const { tokens } = t.context;
  // A signature with both URL-safe characters, so that the standard alphabet spells it differently.
  let issued = await tokens.create('u1');
  for (let attempt = 0; attempt < 200 && !/[-_]/.test(issued.token.split('.')[2]!); attempt += 1) issued = await tokens.create('u1');
  const [prefix, payload, signature] = issued.token.split('.') as [string, string, string];
  t.true(/[-_]/.test(signature), 'found a signature with - or _');
  await t.notThrowsAsync(tokens.verify(issued.token));

  // 32 bytes are 43 base64 characters; the last one carries 2 bits that decoding ignores.
  const last = signature.at(-1)!;
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';
  const strayBits = alphabet[alphabet.indexOf(last) ^ 1]!;
  const variants = {
    padded: `${signature}=`,
    'standard alphabet': signature.replaceAll('-', '+').replaceAll('_', '/'),
    'stray low bits': signature.slice(0, -1) + strayBits,
  };
  for (const [name, variant] of Object.entries(variants)) {
    t.deepEqual(Buffer.from(variant, 'base64url'), Buffer.from(signature, 'base64url'), `${name} decodes to the same bytes`);
    const error = await t.throwsAsync(tokens.verify(`${prefix}.${payload}.${variant}`), undefined, name);
    t.is(authError(error), 'badToken', name);
  }
});

test('revocation is immediate on the revoking service', async (t) => {
  const issued = await t.context.tokens.create('u1');
  await t.context.tokens.verify(issued.token);
  await t.context.tokens.revoke(issued.tokenId);
  t.is(authError(await t.throwsAsync(t.context.tokens.verify(issued.token))), 'tokenRevoked');
});

test('caveat text forms parse', (t) => {
  t.deepEqual(parseCaveatText('time < 1700000000'), { type: 'time', validUntil: 1700000000 });
  t.deepEqual(parseCaveatText('ip=10.0.0.0/8|::1'), { type: 'ip', whitelist: ['10.0.0.0/8', '::1'] });
  t.deepEqual(parseCaveatText('interface=cdmi'), { type: 'interface', interface: 'cdmi' });
  t.deepEqual(parseCaveatText('data.readonly'), { type: 'data.readonly' });
  t.deepEqual(parseCaveatText('data.path=/s/a|/s/b'), { type: 'data.path', whitelist: ['/s/a', '/s/b'] });
  t.throws(() => parseCaveatText('asn=1234'));
});

test('privilege lists and presets parse', (t) => {
  t.deepEqual(parsePrivileges('viewer'), ['space_read_data', 'space_view']);
  t.deepEqual(parsePrivileges(['space_manage_qos', ' space_view_qos ']), ['space_manage_qos', 'space_view_qos']);
  t.true(parsePrivileges('member').includes('space_write_data'));
  t.is(parsePrivileges('none').length, 0);
  const error = t.throws(() => parsePrivileges('space_view,space_fly'));
  t.regex(error.message, /space_fly/);
});

test('nested groups are effective and cycles rejected', async (t) => {
  const groups = new GroupService(t.context.store, t.context.clock);
  const top = await groups.create('top');
  const middle = await groups.create('middle');
  const bottom = await groups.create('bottom');
  await groups.addSubgroup(top.id, middle.id);
  await groups.addSubgroup(middle.id, bottom.id);
  await groups.addUser(bottom.id, 'user-1');

  t.deepEqual([...(await groups.effectiveGroupIds('user-1'))].sort(), [top.id, middle.id, bottom.id].sort());
  t.is((await groups.effectiveGroupIds('user-2')).size, 0);
  const cycle = await t.throwsAsync(groups.addSubgroup(bottom.id, top.id));
  t.is(OpError.is(cycle) ? cycle.kind : undefined, 'badValue');
  await t.throwsAsync(groups.addSubgroup(top.id, top.id));
});

test('group member removal unlinks users and subgroups', async (t) => {
  const groups = new GroupService(t.context.store, t.context.clock);
  const top = await groups.create('top');
  const bottom = await groups.create('bottom');
  await groups.addSubgroup(top.id, bottom.id);
  await groups.addUser(bottom.id, 'user-1');
  await groups.addUser(top.id, 'user-2');

  const afterSubgroup = await groups.removeSubgroup(top.id, bottom.id);
  t.deepEqual(afterSubgroup.childGroupIds, []);
  t.deepEqual([...(await groups.effectiveGroupIds('user-1'))], [bottom.id]);
  // The former parent is no longer an ancestor, so nesting the other way round is not a cycle.
  await t.notThrowsAsync(groups.addSubgroup(bottom.id, top.id));

  const throughNesting = await t.throwsAsync(groups.removeUser(bottom.id, 'user-2'));
  t.is(OpError.is(throughNesting) ? throughNesting.kind : undefined, 'notFound', 'a member only through a subgroup is not a direct member');
  const afterUser = await groups.removeUser(top.id, 'user-2');
  t.deepEqual(afterUser.userIds, []);
  t.is((await groups.effectiveGroupIds('user-2')).size, 0);

  const notMember = await t.throwsAsync(groups.removeUser(top.id, 'user-2'));
  t.is(OpError.is(notMember) ? notMember.kind : undefined, 'notFound');
  t.regex(notMember.message, /direct member of group "top"/);
  const notSubgroup = await t.throwsAsync(groups.removeSubgroup(top.id, bottom.id));
  t.is(OpError.is(notSubgroup) ? notSubgroup.kind : undefined, 'notFound');
});

const member: AclSubject = { userId: 'u1', groupIds: new Set(['g1']), isOwner: false, isSpaceMember: true };
const guest: AclSubject = { groupIds: new Set(), isOwner: false, isSpaceMember: false };

/** [ACL, subject, requested mask, allowed]. */
const ACL_CASES: Array<[string, Ace[], AclSubject, number, boolean]> = [
  ['empty list denies', [], member, 0x1, false],
  ['allow everyone', [{ acetype: 0, identifier: 'EVERYONE@', aceflags: 0, acemask: 0x1 }], member, 0x1, true],
  ['bits accumulate', [{ acetype: 0, identifier: 'u1', aceflags: 0, acemask: 0x1 }, { acetype: 0, identifier: 'GROUP@', aceflags: 0, acemask: 0x2 }], member, 0x3, true],
  ['partial grant denies', [{ acetype: 0, identifier: 'u1', aceflags: 0, acemask: 0x1 }], member, 0x3, false],
  ['deny first wins', [{ acetype: 1, identifier: 'u1', aceflags: 0, acemask: 0x2 }, { acetype: 0, identifier: 'EVERYONE@', aceflags: 0, acemask: 0x3 }], member, 0x2, false],
  ['allow before deny wins', [{ acetype: 0, identifier: 'EVERYONE@', aceflags: 0, acemask: 0x3 }, { acetype: 1, identifier: 'u1', aceflags: 0, acemask: 0x2 }], member, 0x2, true],
  ['deny of other bits ignored', [{ acetype: 1, identifier: 'u1', aceflags: 0, acemask: 0x2 }, { acetype: 0, identifier: 'u1', aceflags: 0, acemask: 0x1 }], member, 0x1, true],
  ['group needs the group flag', [{ acetype: 0, identifier: 'g1', aceflags: 0, acemask: 0x1 }], member, 0x1, false],
  ['group with flag', [{ acetype: 0, identifier: 'g1', aceflags: 0x40, acemask: 0x1 }], member, 0x1, true],
  ['owner principal', [{ acetype: 0, identifier: 'OWNER@', aceflags: 0, acemask: 0x1 }], member, 0x1, false],
  ['anonymous is not a member', [{ acetype: 0, identifier: 'ANONYMOUS@', aceflags: 0, acemask: 0x1 }], member, 0x1, false],
  ['anonymous matches a guest', [{ acetype: 0, identifier: 'ANONYMOUS@', aceflags: 0, acemask: 0x1 }], guest, 0x1, true],
  ['group@ excludes guests', [{ acetype: 0, identifier: 'GROUP@', aceflags: 0, acemask: 0x1 }], guest, 0x1, false],
  ['inherit-only skipped', [{ acetype: 0, identifier: 'EVERYONE@', aceflags: 0x8, acemask: 0x1 }], member, 0x1, false],
];

for (const [label, acl, subject, mask, allowed] of ACL_CASES) {
  test(`acl ${label}`, (t) => {
    t.is(aclAllows(acl, subject, mask), allowed);
  });
}

test('acl unreadable value denies everyone', (t) => {
  const subject: AclSubject = { userId: 'u1', groupIds: new Set(), isOwner: true, isSpaceMember: true };
  const damaged = ['garbage', [{ identifier: 'EVERYONE@', acemask: '1', acetype: 0 }], [{ identifier: 'EVERYONE@', acemask: 1, acetype: 7 }], [{ identifier: 'EVERYONE@', acemask: 1, acetype: 0, aceflags: 'x' }]];
  for (const value of damaged) {
    const acl = aclFromXattr(value as never);
    t.true(isUnreadableAcl(acl), JSON.stringify(value));
    t.false(aclAllows(acl!, subject, 0x1), JSON.stringify(value));
  }
  t.is(aclFromXattr([]), undefined, 'an empty list is no ACL');
  t.false(isUnreadableAcl(aclFromXattr([{ identifier: 'EVERYONE@', acemask: 1, acetype: 0 }])));
});
