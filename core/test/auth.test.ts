import 'reflect-metadata';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import anyTest, { type TestFn } from 'ava';
import {
  OpError,
  SECRET_COLLECTION,
  SIGNING_KEY_NAME,
  SqliteMetadataStore,
  TokenService,
  UserService,
  type Clock,
} from '../src/index.js';

interface Context {
  directory: string;
  store: SqliteMetadataStore;
  clock: Clock & { nowMs: number };
  users: UserService;
  tokens: TokenService;
}

const test = anyTest as TestFn<Context>;

test.beforeEach(async (t) => {
  const directory = await mkdtemp(path.join(tmpdir(), 'op-auth-'));
  const store = new SqliteMetadataStore({ path: path.join(directory, 'metadata.db') });
  await store.open();
  const clock = { nowMs: Date.UTC(2025, 0, 1), now(): number { return this.nowMs; } };
  t.context = { directory, store, clock, users: new UserService(store, clock), tokens: new TokenService(store, clock) };
});

test.afterEach.always(async (t) => {
  await t.context.store.close();
  await rm(t.context.directory, { recursive: true, force: true });
});

function opErrorKind(error: unknown): string | undefined {
  return OpError.is(error) ? error.kind : undefined;
}

test('user create, get, findByName, list', async (t) => {
  const { users } = t.context;
  const alice = await users.create({ name: 'alice', isAdmin: true });
  const bob = await users.create({ name: 'bob' });

  t.regex(alice.id, /^[0-9a-f]{32}$/);
  t.true(alice.isAdmin);
  t.false(bob.isAdmin);
  t.is(alice.created, t.context.clock.nowMs);
  t.deepEqual(await users.get(alice.id), alice);
  t.deepEqual(await users.findByName('bob'), bob);
  t.is(await users.findByName('carol'), undefined);
  t.deepEqual((await users.list()).map((user) => user.name).sort(), ['alice', 'bob']);
  t.deepEqual(await users.resolve('alice'), alice);
  t.deepEqual(await users.resolve(bob.id), bob);
});

test('user names are unique', async (t) => {
  const { users } = t.context;
  await users.create({ name: 'alice' });
  const error = await t.throwsAsync(users.create({ name: 'alice' }));
  t.is(opErrorKind(error), 'alreadyExists');
  t.is((await users.list()).length, 1);
});

test('user names are validated', async (t) => {
  for (const name of ['', '-x', 'a b', 'a/b', 'x'.repeat(65)]) {
    const error = await t.throwsAsync(t.context.users.create({ name }));
    t.is(opErrorKind(error), 'badValue', `name ${JSON.stringify(name)}`);
  }
});

test('missing user is notFound', async (t) => {
  const error = await t.throwsAsync(t.context.users.get('0'.repeat(32)));
  t.is(opErrorKind(error), 'notFound');
  t.is(await t.context.users.find('not-an-id'), undefined);
});

test('token round trip', async (t) => {
  const { tokens, clock } = t.context;
  const issued = await tokens.create('u1', { ttlSeconds: 60 });

  t.regex(issued.token, /^opw1\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$/);
  const claims = await tokens.verify(issued.token);
  t.is(claims.userId, 'u1');
  t.is(claims.tokenId, issued.tokenId);
  t.is(claims.issuedAt, clock.nowMs / 1000);
  t.is(claims.expiresAt, clock.nowMs / 1000 + 60);
});

test('token expires at issuedAt plus ttl', async (t) => {
  const { tokens, clock } = t.context;
  const issued = await tokens.create('u1', { ttlSeconds: 60 });

  clock.nowMs += 59_999;
  await t.notThrowsAsync(tokens.verify(issued.token));

  clock.nowMs += 1;
  const error = await t.throwsAsync(tokens.verify(issued.token));
  t.is(opErrorKind(error), 'unauthorized');
  t.is((error as OpError).details['authError'], 'tokenExpired');
});

test('revoked token fails verification', async (t) => {
  const { tokens } = t.context;
  const kept = await tokens.create('u1');
  const revoked = await tokens.create('u1');

  await tokens.revoke(revoked.tokenId);
  await tokens.revoke(revoked.tokenId);

  const error = await t.throwsAsync(tokens.verify(revoked.token));
  t.is((error as OpError).details['authError'], 'tokenRevoked');
  await t.notThrowsAsync(tokens.verify(kept.token));
});

test('tampered tokens are rejected', async (t) => {
  const { tokens } = t.context;
  const issued = await tokens.create('u1', { ttlSeconds: 60 });
  const [prefix, payload, signature] = issued.token.split('.') as [string, string, string];
  const forgedPayload = Buffer.from(
    JSON.stringify({ ...JSON.parse(Buffer.from(payload, 'base64url').toString()), uid: 'admin', ttl: 999_999 }),
  ).toString('base64url');
  const flippedSignature = (signature[0] === 'A' ? 'B' : 'A') + signature.slice(1);

  const cases = [
    `${prefix}.${forgedPayload}.${signature}`,
    `${prefix}.${payload}.${flippedSignature}`,
    `${prefix}.${payload}.${signature.slice(0, -4)}`,
    `opw2.${payload}.${signature}`,
    `${prefix}.${payload}`,
    '',
    'x'.repeat(5000),
    'garbage',
  ];
  for (const token of cases) {
    const error = await t.throwsAsync(tokens.verify(token));
    t.is(opErrorKind(error), 'unauthorized', `token ${token.slice(0, 40)}`);
    t.is((error as OpError).details['authError'], 'badToken');
  }
});

test('signing key persists across instances', async (t) => {
  const { store, clock, tokens } = t.context;
  const issued = await tokens.create('u1');

  const stored = await store.get<{ key: string }>(SECRET_COLLECTION, SIGNING_KEY_NAME);
  t.is(Buffer.from(stored?.value.key ?? '', 'base64').length, 32);

  const otherWorker = new TokenService(store, clock);
  t.is((await otherWorker.verify(issued.token)).tokenId, issued.tokenId);
});

test('token from another provider key is rejected', async (t) => {
  const { clock, tokens } = t.context;
  const otherStore = new SqliteMetadataStore({ path: ':memory:' });
  await otherStore.open();
  t.teardown(() => otherStore.close());

  const foreign = await new TokenService(otherStore, clock).create('u1');
  const error = await t.throwsAsync(tokens.verify(foreign.token));
  t.is((error as OpError).details['authError'], 'badToken');
});

test('token ttl is validated', async (t) => {
  for (const ttlSeconds of [0, -1, 1.5, 11 * 365 * 24 * 3600]) {
    const error = await t.throwsAsync(t.context.tokens.create('u1', { ttlSeconds }));
    t.is(opErrorKind(error), 'badValue', `ttl ${ttlSeconds}`);
  }
});
