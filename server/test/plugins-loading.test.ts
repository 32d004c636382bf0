import { subscribe, unsubscribe } from 'node:diagnostics_channel';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import test from 'ava';
import pino from 'pino';
import { DEFAULT_CONFIG } from '../src/config.js';
import { openCore } from '../src/core.js';
import { loadPlugins } from '../src/plugins.js';

/**
 * The default plugin list names the four first-party plugins, and loading them, or
 * opening the core with them, opens no network connection: a plugin connects only when
 * a storage of its type is added or used.
 */

/** Count client sockets that node:net creates while `action` runs (the `net.client.socket` diagnostics channel). */
async function countSockets(action: () => Promise<void>): Promise<number> {
  let sockets = 0;
  const onSocket = (): void => {
    sockets += 1;
  };
  subscribe('net.client.socket', onSocket);
  try {
    await action();
  } finally {
    unsubscribe('net.client.socket', onSocket);
  }
  return sockets;
}

test.serial('default plugins load without connecting', async (t) => {
  let types: string[] = [];
  const sockets = await countSockets(async () => {
    types = (await loadPlugins(DEFAULT_CONFIG.plugins)).map((manifest) => manifest.type);
  });

  t.deepEqual(types, ['posix', 's3', 'sftp', 'azure']);
  t.is(sockets, 0);
});

test.serial('core opens with default plugins offline', async (t) => {
  const dataDir = await mkdtemp(path.join(tmpdir(), 'op-plugins-'));
  t.teardown(() => rm(dataDir, { recursive: true, force: true }));

  const sockets = await countSockets(async () => {
    const core = await openCore({ ...DEFAULT_CONFIG, dataDir }, pino({ level: 'silent' }));
    await core.close();
  });

  t.is(sockets, 0);
});

test.serial('socket counter sees a connection', async (t) => {
  const { connect } = await import('node:net');
  const sockets = await countSockets(
    () =>
      new Promise<void>((resolve) => {
        // Port 9 of 127.0.0.1 has no listener here; the attempt alone must be counted.
        const socket = connect(9, '127.0.0.1');
        socket.once('error', () => resolve());
        socket.once('connect', () => {
          socket.destroy();
          resolve();
        });
      }),
  );

  t.is(sockets, 1);
});
