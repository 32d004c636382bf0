import test from 'ava';
import { execFile } from 'node:child_process';
import path from 'node:path';
import { promisify } from 'node:util';
import { BIN, getStatus, isRunning, spawnManager, tempDir, waitFor } from './helpers.js';

const run = promisify(execFile);

const LEASE_TTL_MS = 2000;

function managerArgs(dataDir: string, nodeId: string): string[] {
  return ['start', '--data-dir', dataDir, '--port', '0', '--workers', '1', '--node-id', nodeId, '--lease-ttl', String(LEASE_TTL_MS)];
}

test('leader lease moves when the leader dies', async (t) => {
  const dataDir = path.join(await tempDir(t, 'op-cm-lease-'), 'data');
  const first = await spawnManager(t, managerArgs(dataDir, 'manager-a'));
  const second = await spawnManager(t, managerArgs(dataDir, 'manager-b'));

  const joined = await waitFor('both managers in the view', 15_000, async () => {
    const status = await getStatus(second.statusUrl);
    return status.managers.filter((manager) => manager.live).length === 2 && status.cluster.readyWorkers === 2 ? status : undefined;
  });
  t.is(joined.leader?.managerId, 'manager-a');
  t.false(joined.isLeader);
  t.is(joined.singletonWorkerId, 'manager-a/worker-0');
  t.is(joined.cluster.status, 'healthy');
  t.deepEqual(joined.workers.map((worker) => worker.nodeId).sort(), ['manager-a/worker-0', 'manager-b/worker-0']);

  // The CLI finds a live manager in the SQLite store of the shared data folder.
  const cli = await run(process.execPath, [BIN, 'status', '--data-dir', dataDir]);
  const fromCli = JSON.parse(cli.stdout) as { leader: { managerId: string }; managers: Array<{ nodeId: string; live: boolean }> };
  t.is(fromCli.leader.managerId, 'manager-a');
  t.deepEqual(fromCli.managers.filter((manager) => manager.live).map((manager) => manager.nodeId).sort(), ['manager-a', 'manager-b']);

  const firstWorkerPid = (await getStatus(first.statusUrl)).workers[0]!.pid!;
  const killedAt = Date.now();
  first.child.kill('SIGKILL');
  const takeover = await waitFor('manager-b to take the lease', 15_000, async () => {
    const status = await getStatus(second.statusUrl);
    return status.isLeader ? { status, atMs: Date.now() } : undefined;
  });
  const elapsedMs = takeover.atMs - killedAt;
  t.log(`lease moved ${elapsedMs} ms after the kill (lease lifetime ${LEASE_TTL_MS} ms)`);
  // The lease expires at most its lifetime after the kill; the follower tries right after expiry. Status polling adds up to 100 ms.
  t.true(elapsedMs <= LEASE_TTL_MS + 500, `${elapsedMs} ms`);
  t.is(takeover.status.leader?.managerId, 'manager-b');

  const reassigned = await waitFor('singleton work on manager-b', 10_000, async () => {
    const status = await getStatus(second.statusUrl);
    return status.singletonWorkerId === 'manager-b/worker-0' ? status : undefined;
  });
  t.false(reassigned.managers.find((manager) => manager.nodeId === 'manager-a')!.live);
  await waitFor('the dead manager worker to exit', 10_000, async () => (isRunning(firstWorkerPid) ? undefined : true));
  t.regex(second.log(), /"msg":"became cluster leader"/);

  const returned = await spawnManager(t, managerArgs(dataDir, 'manager-a'));
  const rejoined = await waitFor('manager-a to rejoin', 15_000, async () => {
    const status = await getStatus(returned.statusUrl);
    return status.managers.filter((manager) => manager.live).length === 2 && status.cluster.readyWorkers === 2 ? status : undefined;
  });
  t.is(rejoined.leader?.managerId, 'manager-b');
  t.false(rejoined.isLeader);
  t.is(rejoined.singletonWorkerId, 'manager-b/worker-0');
});
