import test from 'ava';
import { once } from 'node:events';
import { readFile, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { readDescription } from '../src/index.js';
import { API, EXAMPLES, duplicateKeys, getStatus, httpRequest, isRunning, killWorkersOf, sha256, spaceDirId, spawnManager, tempDir, waitFor } from './helpers.js';

type Tokens = Record<string, Record<string, string>>;

async function readTokens(dataDir: string): Promise<Tokens> {
  return JSON.parse(await readFile(path.join(dataDir, 'tokens.json'), 'utf8')) as Tokens;
}

test('single-provider example serves its space', async (t) => {
  const dataDir = path.join(await tempDir(t, 'op-cm-single-'), 'data');
  const manager = await spawnManager(t, ['up', path.join(EXAMPLES, 'single-provider.json'), '--data-dir', dataDir, '--free-ports']);

  const tokens = await readTokens(dataDir);
  t.is((await stat(path.join(dataDir, 'tokens.json'))).mode & 0o777, 0o600);
  const alice = tokens['alice']?.['alice-laptop'] ?? '';
  const bob = tokens['bob']?.['bob-laptop'] ?? '';
  t.truthy(alice);
  t.truthy(bob);

  const dirId = await spaceDirId(manager.url, alice, 'projects');
  const content = Buffer.from('shared by alice\n');
  const upload = await httpRequest('PUT', `${manager.url}${API}/data/${dirId}/path/notes.txt`, { 'X-Auth-Token': alice }, content);
  t.is(upload.status, 201);
  const { fileId } = JSON.parse(upload.body.toString()) as { fileId: string };
  const download = await httpRequest('GET', `${manager.url}${API}/data/${fileId}/content`, { 'X-Auth-Token': bob });
  t.is(download.status, 200);
  t.is(sha256(download.body), sha256(content));

  const status = await getStatus(manager.statusUrl);
  t.is(status.managerId, 'host-a');
  t.is(status.workers.length, 2);
  t.is(status.cluster.status, 'healthy');
  const configuration = JSON.parse((await httpRequest('GET', `${manager.url}${API}/configuration`, {})).body.toString()) as { providerId: string };
  t.is(configuration.providerId, 'example-provider');
});

test('two-hosts example shares one provider', async (t) => {
  const dataDir = path.join(await tempDir(t, 'op-cm-two-'), 'data');
  const parent = await spawnManager(t, ['up', path.join(EXAMPLES, 'two-hosts.json'), '--data-dir', dataDir, '--free-ports'], 2);
  const urls = Object.fromEntries([...parent.output().matchAll(/\[(host-[ab])\] op-cluster-manager serving on (\S+)/g)].map((match) => [match[1], match[2]]));
  const statusUrls = Object.fromEntries([...parent.output().matchAll(/\[(host-[ab])\] status on (\S+)\/status/g)].map((match) => [match[1], match[2]]));
  t.truthy(urls['host-a']);
  t.truthy(urls['host-b']);

  const alice = (await readTokens(dataDir))['alice']?.['alice-laptop'] ?? '';
  const dirId = await spaceDirId(urls['host-a']!, alice, 'projects');
  const content = Buffer.from('written through host-a\n');
  const upload = await httpRequest('PUT', `${urls['host-a']}${API}/data/${dirId}/path/shared.txt`, { 'X-Auth-Token': alice }, content);
  t.is(upload.status, 201);
  const { fileId } = JSON.parse(upload.body.toString()) as { fileId: string };
  const download = await httpRequest('GET', `${urls['host-b']}${API}/data/${fileId}/content`, { 'X-Auth-Token': alice });
  t.is(sha256(download.body), sha256(content));

  const status = await waitFor('both managers in the view', 15_000, async () => {
    const report = await getStatus(statusUrls['host-b']!);
    return report.managers.filter((manager) => manager.live).length === 2 && report.cluster.readyWorkers === 4 ? report : undefined;
  });
  t.is(status.cluster.status, 'healthy');
  t.true(status.leader?.managerId === 'host-a' || status.leader?.managerId === 'host-b');
  t.is(status.workers.length, 4);

  const exited = once(parent.child, 'exit');
  parent.child.kill('SIGTERM');
  const [code] = (await exited) as [number | null];
  t.is(code, 0);
});

test('up restarts a killed manager', async (t) => {
  const dataDir = path.join(await tempDir(t, 'op-cm-restart-'), 'data');
  const parent = await spawnManager(t, ['up', path.join(EXAMPLES, 'two-hosts.json'), '--data-dir', dataDir, '--free-ports'], 2);
  const statusUrl = (host: string): string | undefined => [...parent.output().matchAll(new RegExp(`\\[${host}\\] status on (\\S+)/status`, 'g'))].at(-1)?.[1];
  const before = await waitFor('host-b in the view of host-a', 15_000, async () => {
    const report = await getStatus(statusUrl('host-a')!);
    return report.managers.find((manager) => manager.nodeId === 'host-b' && manager.live);
  });
  const oldStatusUrl = statusUrl('host-b');

  process.kill(before.pid!, 'SIGKILL');
  t.teardown(() => killWorkersOf(parent.log()));
  await waitFor('the exit to be logged', 5_000, async () => (parent.log().includes('"msg":"manager process exited unexpectedly; restarting"') ? true : undefined));
  const exitLine = parent.log().split('\n').find((line) => line.includes('manager process exited unexpectedly'))!;
  const exit = JSON.parse(exitLine) as Record<string, unknown>;
  t.is(exit['managerId'], 'host-b');
  t.is(exit['managerPid'], before.pid);
  t.is(exit['signal'], 'SIGKILL');

  const rejoined = await waitFor('host-b to rejoin', 30_000, async () => {
    if (statusUrl('host-b') === oldStatusUrl) return undefined;
    const report = await getStatus(statusUrl('host-a')!);
    const manager = report.managers.find((entry) => entry.nodeId === 'host-b' && entry.live && entry.pid !== before.pid);
    return manager !== undefined && report.cluster.readyWorkers === 4 ? manager : undefined;
  });
  t.true(isRunning(rejoined.pid!));
  t.regex(parent.log(), /"managerId":"host-b","managerPid":\d+,"restarts":1,"msg":"manager process started"/);

  const exited = once(parent.child, 'exit');
  parent.child.kill('SIGTERM');
  const [code] = (await exited) as [number | null];
  t.is(code, 0);

  // Lines of the managers, their supervisors and membership all carry the managerId binding.
  const managerLines = parent.log().split('\n').filter((line) => line.startsWith('{') && line.includes('"managerId":'));
  t.true(managerLines.some((line) => line.includes('"msg":"worker exited"')));
  for (const line of managerLines) t.deepEqual(duplicateKeys(line), [], line);
});

test('repeated manager id is rejected', async (t) => {
  const dir = await tempDir(t, 'op-cm-dup-');
  const file = path.join(dir, 'twice.json');
  await writeFile(file, JSON.stringify({ dataDir: 'data', managers: [{ id: 'm', workers: 1 }, { id: 'm', workers: 1 }] }));

  const error = await t.throwsAsync(readDescription(file));
  t.regex(error?.message ?? '', /\/managers\/1\/id: "m" is listed twice/);
});
