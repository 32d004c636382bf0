import test from 'ava';
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { runExample } from '../src/main.js';

const run = promisify(execFile);

test('example writes, lists and reads files', async (t) => {
  const workDir = await mkdtemp(path.join(tmpdir(), 'op-worker-embed-test-'));
  t.teardown(() => rm(workDir, { recursive: true, force: true }));

  const result = await runExample(workDir);
  t.deepEqual(result.listing, ['empty.txt 0', 'hello.txt 11']);
  t.is(result.content, 'hello World');
});

test('example runs as a program', async (t) => {
  const workDir = await mkdtemp(path.join(tmpdir(), 'op-worker-embed-cli-'));
  t.teardown(() => rm(workDir, { recursive: true, force: true }));
  const main = fileURLToPath(new URL('../src/main.js', import.meta.url));

  const { stdout } = await run(process.execPath, [main, workDir]);
  t.regex(stdout, /hello\.txt: hello World/);
  t.regex(stdout, /empty\.txt 0/);
  t.true((await readFile(path.join(workDir, 'metadata.db'))).length > 0);
});
