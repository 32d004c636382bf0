import test from 'ava';
import { access, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { loadConfig, openCore } from '@op-worker/server';
import pino from 'pino';
import { DescriptionError, readDescription, runEnvironment } from '../src/index.js';
import { tempDir } from './helpers.js';

const silent = pino({ level: 'silent' });

async function writeDescription(dir: string, description: unknown): Promise<string> {
  const file = path.join(dir, 'provider.json');
  await writeFile(file, typeof description === 'string' ? description : JSON.stringify(description, null, 2));
  return file;
}

test('JSON syntax error names file and position', async (t) => {
  const dir = await tempDir(t, 'op-cm-json-');
  const file = await writeDescription(dir, '{\n  "dataDir": "data",\n  "managers": [],\n}\n');

  const error = await t.throwsAsync(readDescription(file));
  t.true(error?.message.includes(`${file}:4:1`), error?.message);
});

test('repeated names are all reported', async (t) => {
  const dir = await tempDir(t, 'op-cm-names-');
  const file = await writeDescription(dir, {
    dataDir: 'data',
    managers: [{ id: 'm', workers: 1 }],
    users: [{ name: 'alice' }, { name: 'alice' }],
    storages: [
      { name: 'local', type: 'posix', config: { mountPoint: 'a' } },
      { name: 'local', type: 'posix', config: { mountPoint: 'b' } },
    ],
  });

  const error = await t.throwsAsync(readDescription(file), { instanceOf: DescriptionError });
  t.deepEqual(error?.problems, ['/users/1/name: "alice" is listed twice; names must be unique', '/storages/1/name: "local" is listed twice; names must be unique']);
});

test('bad references create nothing', async (t) => {
  const dir = await tempDir(t, 'op-cm-atomic-');
  const file = await writeDescription(dir, {
    dataDir: 'data',
    plugins: ['@op-worker/plugin-posix'],
    managers: [{ id: 'm', workers: 1 }],
    users: [{ name: 'alice', tokens: ['laptop'] }],
    storages: [
      { name: 'good', type: 'posix', config: { mountPoint: 'storage/good' } },
      { name: 'bad-option', type: 'posix', config: { mountPoint: 'storage/bad', colour: 'blue' } },
      { name: 'no-plugin', type: 'tape', config: {} },
    ],
    spaces: [
      { name: 'projects', owner: 'alice', supports: [{ storage: 'good' }] },
      { name: 'orphan', owner: 'mallory', members: ['alice', 'eve'], supports: [{ storage: 'missing' }] },
    ],
  });

  const error = await t.throwsAsync(runEnvironment({ file, logger: silent }), { instanceOf: DescriptionError });
  const paths = (error?.problems ?? []).map((problem) => problem.slice(0, problem.indexOf(':')));
  t.deepEqual(paths, ['/spaces/1/owner', '/spaces/1/members/1', '/storages/1/config/colour', '/storages/2/type', '/spaces/1/supports/0/storage']);

  const dataDir = path.join(dir, 'data');
  await t.throwsAsync(access(path.join(dataDir, 'storage', 'good')), { code: 'ENOENT' });
  await t.throwsAsync(access(path.join(dataDir, 'tokens.json')), { code: 'ENOENT' });
  const config = await loadConfig({ env: { OP_WORKER_EMBEDDED_DEFAULTS: 'false', OP_WORKER_PLUGINS: '@op-worker/plugin-posix' }, overrides: { dataDir } });
  const core = await openCore(config, silent);
  t.teardown(() => core.close());
  t.deepEqual(await core.storages.list(), []);
  t.is(await core.users.findByName('alice'), undefined);
  t.is(await core.spaces.findByName('projects'), undefined);
});
