import test from 'ava';
import { coversAll, type Core, type Identity } from '@op-worker/core';
import { streamOf } from '../src/fixture.js';
import { twoPosixStorages, type TwoStorages } from './transfers-fixture.js';

const fixtures: TwoStorages[] = [];

async function setup(): Promise<TwoStorages> {
  const fixture = await twoPosixStorages();
  fixtures.push(fixture);
  return fixture;
}

test.after.always(async () => {
  await Promise.all(fixtures.map((fixture) => fixture.dispose()));
});

async function file(core: Core, who: Identity, parentId: string, name: string, content: string): Promise<string> {
  return (await core.lfs.create(who, parentId, name, { type: 'REG', content: streamOf(content) })).fileId;
}

async function until(condition: () => Promise<boolean>, timeoutMs = 20_000): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) return false;
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
  return true;
}

async function heldOn(core: Core, who: Identity, fileId: string, storageId: string): Promise<boolean> {
  const distribution = await core.lfs.getDistribution(who, fileId);
  return coversAll(distribution.storages.find((entry) => entry.storageId === storageId)?.blocks ?? [], distribution.size);
}

test('dry run lists what a rule matches', async (t) => {
  const { core, owner, space } = await setup();
  const dir = await core.lfs.create(owner, space.dirId, 'dir', { type: 'DIR' });
  await file(core, owner, space.dirId, 'a.txt', 'aa');
  await file(core, owner, space.dirId, 'big.txt', 'x'.repeat(100));
  await file(core, owner, space.dirId, 'b.log', 'bb');
  const tagged = await file(core, owner, dir.fileId, 'c.txt', 'cc');
  await core.lfs.setXattrs(owner, tagged, { project: 'alpha' });
  await core.lfs.setJsonMetadata(owner, tagged, { owner: { team: 'red' } });

  const dryRun = async (match: object): Promise<string[]> => {
    const rule = await core.rules.add({ name: 'r', spaceId: space.spaceId, match, action: { type: 'delete' } });
    return (await core.rules.dryRun(rule.ruleId)).map((entry) => entry.path).sort();
  };
  t.deepEqual(await dryRun({ pathGlob: '**/*.txt' }), ['a.txt', 'big.txt', 'dir/c.txt']);
  t.deepEqual(await dryRun({ pathGlob: '*.txt' }), ['a.txt', 'big.txt']);
  t.deepEqual(await dryRun({ namePattern: '*.log' }), ['b.log']);
  t.deepEqual(await dryRun({ pathGlob: '**/*.txt', maxSize: 10 }), ['a.txt', 'dir/c.txt']);
  t.deepEqual(await dryRun({ minSize: 50 }), ['big.txt']);
  t.deepEqual(await dryRun({ metadata: { name: 'project', value: 'alpha' } }), ['dir/c.txt']);
  t.deepEqual(await dryRun({ metadata: { name: 'json.owner.team', value: 'red' } }), ['dir/c.txt']);
  t.deepEqual(await dryRun({ modifiedOlderThanSeconds: 3600 }), []);
  t.deepEqual(await dryRun({ modifiedOlderThanSeconds: 0, namePattern: 'a.*' }), ['a.txt']);
  t.true((await core.lfs.listChildren(owner, space.dirId, {})).children.length === 4, 'a dry run deletes nothing');
  await t.throwsAsync(core.rules.add({ name: 'bad', spaceId: space.spaceId, match: { minSize: -1 }, action: { type: 'delete' } }));
  await t.throwsAsync(core.rules.add({ name: 'bad', spaceId: space.spaceId, match: {}, action: { type: 'replicate', expression: 'a=' } }));
});

test('applied rule replicates matching files', async (t) => {
  const { core, owner, space, second } = await setup();
  const hot = await file(core, owner, space.dirId, 'keep.dat', 'copy me');
  const cold = await file(core, owner, space.dirId, 'skip.tmp', 'leave me');
  const rule = await core.rules.add({ name: 'to cold', spaceId: space.spaceId, match: { namePattern: '*.dat' }, action: { type: 'replicate', expression: 'tier=cold' } });
  const jobId = await core.rules.apply(rule.ruleId);
  t.true(await until(async () => (await core.jobs.get(jobId))?.state === 'completed'));
  t.true(await heldOn(core, owner, hot, second));
  t.false(await heldOn(core, owner, cold, second));
});

test('change-triggered rule tags new files', async (t) => {
  const { core, owner, space } = await setup();
  await core.rules.add({ name: 'tag csv', spaceId: space.spaceId, match: { namePattern: '*.csv' }, action: { type: 'setMetadata', xattrs: { kind: 'table' } }, trigger: 'change' });
  const csv = await file(core, owner, space.dirId, 'data.csv', 'a,b\n1,2\n');
  const txt = await file(core, owner, space.dirId, 'notes.txt', 'hello');
  t.true(await until(async () => (await core.lfs.getXattrs(owner, csv))['kind'] === 'table'));
  t.deepEqual(await core.lfs.getXattrs(owner, txt), {});
});

test('evict rule keeps the last replica', async (t) => {
  const { core, owner, space, first, second } = await setup();
  const single = await file(core, owner, space.dirId, 'single.bin', 'only here');
  const double = await file(core, owner, space.dirId, 'double.bin', 'two places');
  const replicate = await core.rules.add({ name: 'copy', spaceId: space.spaceId, match: { namePattern: 'double.*' }, action: { type: 'replicate', expression: 'tier=cold' } });
  const copyJob = await core.rules.apply(replicate.ruleId);
  t.true(await until(async () => (await core.jobs.get(copyJob))?.state === 'completed'));

  const evict = await core.rules.add({ name: 'free hot', spaceId: space.spaceId, match: {}, action: { type: 'evict', storageId: first } });
  const evictJob = await core.rules.apply(evict.ruleId);
  t.true(await until(async () => (await core.jobs.get(evictJob))?.state === 'completed'));
  t.true(await heldOn(core, owner, single, first), 'the only replica stays');
  t.false(await heldOn(core, owner, double, first), 'a replica held elsewhere goes');
  t.true(await heldOn(core, owner, double, second));
});
