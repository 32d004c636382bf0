/** Starting and stopping the servers under test: each runs as a child process, by PID. */
import { spawn, type ChildProcess } from 'node:child_process';
import { openSync, closeSync, readFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';

export interface RunningProcess {
  name: string;
  pid: number;
  logPath: string;
  child: ChildProcess;
}

const started = new Set<RunningProcess>();

/**
 * Starts a command with its stdout and stderr appended to logPath. A file rather than a
 * pipe, so a chatty server never blocks on a pipe the harness does not read.
 */
export function startProcess(name: string, command: string, args: string[], logPath: string, env?: NodeJS.ProcessEnv): RunningProcess {
  const log = openSync(logPath, 'a');
  const child = spawn(command, args, { stdio: ['ignore', log, log], env: env ?? process.env });
  closeSync(log);

  if (child.pid === undefined) {
    throw new Error(`${name}: failed to start ${command}; see ${logPath}`);
  }
  const running = { name, pid: child.pid, logPath, child };
  started.add(running);
  child.once('exit', () => started.delete(running));
  return running;
}

/** Sends SIGTERM to the process, then SIGKILL if it is still running after timeoutMs. */
export async function stopProcess(running: RunningProcess, timeoutMs = 5000): Promise<void> {
  if (running.child.exitCode !== null || running.child.signalCode !== null) {
    started.delete(running);
    return;
  }

  const exited = new Promise<void>((resolve) => running.child.once('exit', () => resolve()));
  process.kill(running.pid, 'SIGTERM');
  const stopped = await Promise.race([exited.then(() => true), sleep(timeoutMs).then(() => false)]);
  if (!stopped) {
    process.kill(running.pid, 'SIGKILL');
    await exited;
  }
  started.delete(running);
}

/** Stops every process this module started that is still running. */
export async function stopAllProcesses(): Promise<void> {
  await Promise.all([...started].map((running) => stopProcess(running)));
}

/** Returns a TCP port that was free on 127.0.0.1 a moment ago. */
export async function findFreePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const probe = createServer();
    probe.once('error', reject);
    probe.listen(0, '127.0.0.1', () => {
      const address = probe.address();
      const port = typeof address === 'object' && address !== null ? address.port : 0;
      probe.close(() => resolve(port));
    });
  });
}

/**
 * Polls the log, from byte fromOffset on, until pattern matches, and returns the match.
 * Fails when the process exits first or timeoutMs passes, quoting the end of the log.
 */
export async function waitForLog(running: RunningProcess, pattern: RegExp, timeoutMs = 30_000, fromOffset = 0): Promise<RegExpMatchArray> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const match = readLog(running).subarray(fromOffset).toString('utf8').match(pattern);
    if (match !== null) {
      return match;
    }
    if (running.child.exitCode !== null || running.child.signalCode !== null) {
      throw new Error(`${running.name} exited before it was ready:\n${tailOfLog(running)}`);
    }
    await sleep(100);
  }
  throw new Error(`${running.name} was not ready after ${timeoutMs} ms:\n${tailOfLog(running)}`);
}

/** Polls url until the server responds with any HTTP status. */
export async function waitForHttp(running: RunningProcess, url: string, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (running.child.exitCode !== null || running.child.signalCode !== null) {
      throw new Error(`${running.name} exited before it was ready:\n${tailOfLog(running)}`);
    }
    try {
      await fetch(url, { method: 'HEAD' });
      return;
    } catch {
      await sleep(100);
    }
  }
  throw new Error(`${running.name} did not respond on ${url} after ${timeoutMs} ms:\n${tailOfLog(running)}`);
}

function readLog(running: RunningProcess): Buffer {
  try {
    return readFileSync(running.logPath);
  } catch {
    return Buffer.alloc(0);
  }
}

function tailOfLog(running: RunningProcess): string {
  return readLog(running).toString('utf8').split('\n').slice(-20).join('\n');
}
