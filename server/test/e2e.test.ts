import { spawn, type ChildProcess } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import test from 'ava';

const BIN = fileURLToPath(new URL('../../bin/op-worker.js', import.meta.url));
const API = '/api/v3/oneprovider';

interface Started {
  child: ChildProcess;
  url: string;
  token: string;
}

/** Spawn `op-worker start` and wait for the URL and token lines on stdout (at most 30 s). */
function startBinary(dataDir: string): Promise<Started> {
  const child = spawn(process.execPath, [BIN, 'start', '--data-dir', dataDir, '--port', '0'], {
    env: { ...process.env, OP_WORKER_LOG_LEVEL: 'warn' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  let errors = '';
  child.stderr?.on('data', (chunk: Buffer) => (errors += chunk.toString()));

  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`worker did not start in 30 s: ${output} ${errors}`)), 30_000);
    child.once('exit', (code) => reject(new Error(`worker exited with ${code}: ${errors}`)));
    child.stdout?.on('data', (chunk: Buffer) => {
      output += chunk.toString();
      const url = /listening on (\S+)/.exec(output)?.[1];
      const token = /admin token: (\S+)/.exec(output)?.[1];
      if (url !== undefined && token !== undefined) {
        clearTimeout(timer);
        resolve({ child, url, token });
      }
    });
  });
}

function stopBinary(child: ChildProcess): Promise<number | null> {
  return new Promise((resolve) => {
    child.removeAllListeners('exit');
    child.once('exit', (code) => resolve(code));
    child.kill('SIGTERM');
  });
}

function sha256(data: Uint8Array): string {
  return createHash('sha256').update(data).digest('hex');
}

test('binary serves, restarts and stops', async (t) => {
  const root = await mkdtemp(path.join(tmpdir(), 'op-e2e-'));
  const dataDir = path.join(root, 'data');
  t.teardown(() => rm(root, { recursive: true, force: true }));

  const first = await startBinary(dataDir);
  t.teardown(() => void first.child.kill('SIGKILL'));
  t.regex(first.url, /^http:\/\/127\.0\.0\.1:\d+$/);
  t.is((await readFile(path.join(dataDir, 'admin-token'), 'utf8')).trim(), first.token);
  t.is((await stat(path.join(dataDir, 'admin-token'))).mode & 0o777, 0o600);
  await stat(path.join(dataDir, 'metadata.db'));

  const headers = { 'X-Auth-Token': first.token };
  const spaces = (await (await fetch(`${first.url}${API}/spaces`, { headers })).json()) as Array<{ spaceId: string; name: string }>;
  t.is(spaces[0]?.name, 'default');
  const space = (await (await fetch(`${first.url}${API}/spaces/${spaces[0]?.spaceId}`, { headers })).json()) as { dirId: string };

  const dir = await fetch(`${first.url}${API}/data/${space.dirId}/children?name=docs&type=DIR`, { method: 'POST', headers });
  t.is(dir.status, 201);
  const content = randomBytes(3 * 1024 * 1024 + 17);
  const upload = await fetch(`${first.url}${API}/data/${space.dirId}/path/docs/big.bin`, { method: 'PUT', headers, body: content });
  t.is(upload.status, 201);
  const { fileId } = (await upload.json()) as { fileId: string };

  const whole = Buffer.from(await (await fetch(`${first.url}${API}/data/${fileId}/content`, { headers })).arrayBuffer());
  t.is(sha256(whole), sha256(content));
  const ranged = await fetch(`${first.url}${API}/data/${fileId}/content`, { headers: { ...headers, Range: 'bytes=1000-1999' } });
  t.is(ranged.status, 206);
  t.is(sha256(Buffer.from(await ranged.arrayBuffer())), sha256(content.subarray(1000, 2000)));

  const storedCopy = await readFile(path.join(dataDir, 'storage', spaces[0]?.spaceId ?? '', 'docs', 'big.bin'));
  t.is(sha256(storedCopy), sha256(content));

  t.is(await stopBinary(first.child), 0);

  const second = await startBinary(dataDir);
  t.teardown(() => void second.child.kill('SIGKILL'));
  t.is(second.token, first.token);
  const again = await fetch(`${second.url}${API}/data/${fileId}/content`, { headers: { 'X-Auth-Token': second.token, Range: 'bytes=0-9' } });
  t.is(again.status, 206);
  t.deepEqual(Buffer.from(await again.arrayBuffer()), content.subarray(0, 10));
  t.is(await stopBinary(second.child), 0);
});

test('admin commands manage users and tokens', async (t) => {
  const root = await mkdtemp(path.join(tmpdir(), 'op-cli-'));
  const dataDir = path.join(root, 'data');
  t.teardown(() => rm(root, { recursive: true, force: true }));

  const run = (...args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> =>
    new Promise((resolve) => {
      const child = spawn(process.execPath, [BIN, ...args, '--data-dir', dataDir], { stdio: ['ignore', 'pipe', 'pipe'] });
      let stdout = '';
      let stderr = '';
      child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
      child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
      child.on('exit', (code) => resolve({ code, stdout, stderr }));
    });

  const created = await run('user', 'create', 'alice');
  t.is(created.code, 0, created.stderr);
  t.is(JSON.parse(created.stdout).name, 'alice');

  const duplicate = await run('user', 'create', 'alice');
  t.is(duplicate.code, 1);
  t.true(duplicate.stderr.includes('already exists'));

  const token = await run('token', 'create', 'alice', '--ttl', '60');
  t.is(token.code, 0, token.stderr);
  t.regex(JSON.parse(token.stdout).token, /^opw1\./);

  const mount = path.join(root, 'imported');
  const { mkdir, writeFile } = await import('node:fs/promises');
  await mkdir(path.join(mount, 'sub'), { recursive: true });
  await writeFile(path.join(mount, 'sub', 'a.txt'), 'imported data');

  const storage = await run('storage', 'add', '--name', 'legacy', '--type', 'posix', '--config', JSON.stringify({ mountPoint: mount }), '--imported');
  t.is(storage.code, 0, storage.stderr);
  t.is((await run('space', 'create', 'legacy', '--owner', 'alice')).code, 0);
  const support = await run('space', 'support', 'legacy', '--storage', 'legacy');
  t.is(support.code, 0, support.stderr);
  const imported = await run('import', 'start', 'legacy');
  t.is(imported.code, 0, imported.stderr);
  t.true(JSON.parse(imported.stdout).createdFiles >= 1);

  const badConfig = await run('storage', 'add', '--name', 'x', '--config', 'not-json');
  t.is(badConfig.code, 1);
});
