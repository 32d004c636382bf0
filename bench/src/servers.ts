/**
 * The servers under test. Every one listens on 127.0.0.1, serves the same bytes (the
 * reference servers share one directory, the worker gets copies through its REST API),
 * and is stopped by PID at the end of the run.
 */
import { mkdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { findFreePort, startProcess, stopProcess, waitForHttp, waitForLog, type RunningProcess } from './processes.js';
import { WorkerRest } from './worker-rest.js';
import type { Fixture } from './fixture.js';

export const SERVER_NAMES = ['nginx', 'rclone-http', 'rclone-webdav', 'node-http', 'op-worker'] as const;
export type ServerName = (typeof SERVER_NAMES)[number];

export interface ServerUnderTest {
  readonly name: ServerName;
  /** The process whose RSS the memory probe samples. */
  readonly process: RunningProcess;
  readonly baseUrl: string;
  /** Headers every request needs (authentication). */
  readonly headers: Record<string, string>;
  /** Whether the server takes part in the GET measurements. */
  readonly servesGet: boolean;
  /** Whether the server accepts uploads by HTTP PUT. */
  readonly acceptsPut: boolean;
  readonly largeFileUrl: string;
  /** URL paths (no origin) of the small files, in the fixture's order. */
  readonly smallFilePaths: readonly string[];
  /** Prepares an upload target and returns the URL to PUT the body to. */
  prepareUpload(name: string): Promise<string>;
  removeUpload(name: string): Promise<void>;
}

export interface StartOptions {
  fixture: Fixture;
  workDir: string;
  repoDir: string;
  /** Extra `node` flags for the worker process, such as `--cpu-prof`. */
  workerNodeFlags: string[];
}

export async function startServer(name: ServerName, options: StartOptions): Promise<ServerUnderTest> {
  switch (name) {
    case 'nginx':
      return startNginx(options);
    case 'rclone-http':
      return startRclone('rclone-http', 'http', options);
    case 'rclone-webdav':
      return startRclone('rclone-webdav', 'webdav', options);
    case 'node-http':
      return startNodeReference(options);
    case 'op-worker':
      return startWorker(options);
  }
}

export async function stopServer(server: ServerUnderTest): Promise<void> {
  await stopProcess(server.process);
}

/** Reference servers share the fixture directory and upload into its `uploads/` folder. */
function directoryServer(
  name: ServerName,
  running: RunningProcess,
  baseUrl: string,
  fixture: Fixture,
  capabilities: { servesGet: boolean; acceptsPut: boolean },
): ServerUnderTest {
  return {
    name,
    process: running,
    baseUrl,
    headers: {},
    ...capabilities,
    largeFileUrl: `${baseUrl}/${fixture.largeFileName}`,
    smallFilePaths: fixture.smallFileNames.map((file) => `/${fixture.smallDirName}/${file}`),
    prepareUpload: async (uploadName) => `${baseUrl}/${fixture.uploadDirName}/${name}-${uploadName}`,
    removeUpload: async (uploadName) => rm(join(fixture.rootDir, fixture.uploadDirName, `${name}-${uploadName}`), { force: true }),
  };
}

async function startNginx({ fixture, workDir }: StartOptions): Promise<ServerUnderTest> {
  const port = await findFreePort();
  const prefix = join(workDir, 'nginx');
  await mkdir(join(prefix, 'temp'), { recursive: true });

  // Static files with sendfile, DAV PUT into the same tree. Request bodies are buffered
  // in a temp folder on the same disk and renamed into place (nginx does not fsync them).
  const config = `
user root root;
daemon off;
worker_processes auto;
pid ${prefix}/nginx.pid;
error_log ${prefix}/error.log warn;
events { worker_connections 1024; }
http {
  access_log off;
  sendfile on;
  tcp_nopush on;
  keepalive_requests 1000000;
  client_body_temp_path ${prefix}/temp/body;
  proxy_temp_path ${prefix}/temp/proxy;
  fastcgi_temp_path ${prefix}/temp/fastcgi;
  uwsgi_temp_path ${prefix}/temp/uwsgi;
  scgi_temp_path ${prefix}/temp/scgi;
  default_type application/octet-stream;
  server {
    listen 127.0.0.1:${port};
    root ${fixture.rootDir};
    location / {
      dav_methods PUT;
      create_full_put_path on;
      client_max_body_size 0;
    }
  }
}
`;
  const configPath = join(prefix, 'nginx.conf');
  await writeFile(configPath, config);

  const running = startProcess('nginx', 'nginx', ['-p', prefix, '-e', join(prefix, 'error.log'), '-c', configPath], join(workDir, 'logs', 'nginx.log'));
  const baseUrl = `http://127.0.0.1:${port}`;
  await waitForHttp(running, `${baseUrl}/`);
  return directoryServer('nginx', running, baseUrl, fixture, { servesGet: true, acceptsPut: true });
}

async function startRclone(name: 'rclone-http' | 'rclone-webdav', protocol: 'http' | 'webdav', { fixture, workDir }: StartOptions): Promise<ServerUnderTest> {
  const port = await findFreePort();
  const configPath = join(workDir, 'rclone.conf');
  await writeFile(configPath, '');

  // The VFS cache stays off (rclone's default), so WebDAV uploads stream straight into
  // the local file. rclone does not fsync them.
  const args = ['serve', protocol, fixture.rootDir, '--addr', `127.0.0.1:${port}`, '--config', configPath, '--log-level', 'ERROR'];
  const running = startProcess(name, 'rclone', args, join(workDir, 'logs', `${name}.log`));
  const baseUrl = `http://127.0.0.1:${port}`;
  await waitForHttp(running, `${baseUrl}/`);

  // Only rclone's HTTP server counts for the GET targets; the WebDAV one is there for PUT.
  const capabilities = protocol === 'http' ? { servesGet: true, acceptsPut: false } : { servesGet: false, acceptsPut: true };
  return directoryServer(name, running, baseUrl, fixture, capabilities);
}

async function startNodeReference({ fixture, workDir, repoDir }: StartOptions): Promise<ServerUnderTest> {
  const script = join(repoDir, 'bench', 'dist', 'node-file-server.js');
  const running = startProcess('node-http', process.execPath, [script, fixture.rootDir, '0'], join(workDir, 'logs', 'node-http.log'));
  const match = await waitForLog(running, /listening on (http:\/\/127\.0\.0\.1:\d+)/);
  return directoryServer('node-http', running, match[1] as string, fixture, { servesGet: true, acceptsPut: true });
}

async function startWorker({ fixture, workDir, repoDir, workerNodeFlags }: StartOptions): Promise<ServerUnderTest> {
  const dataDir = join(workDir, 'op-worker-data');
  let worker = await launchWorker(repoDir, dataDir, workDir, []);
  const files = await loadFixture(worker.rest, fixture);

  // With profiling flags the worker starts again on the same data folder, so the profile
  // covers serving the benchmark and not loading the fixture.
  if (workerNodeFlags.length > 0) {
    await stopProcess(worker.running);
    worker = await launchWorker(repoDir, dataDir, workDir, workerNodeFlags);
  }

  const { running, rest } = worker;
  const uploads = new Map<string, string>();
  return {
    name: 'op-worker',
    process: running,
    baseUrl: rest.baseUrl,
    headers: rest.authHeaders,
    servesGet: true,
    acceptsPut: true,
    largeFileUrl: rest.contentUrl(files.largeFileId),
    smallFilePaths: files.smallFileIds.map((id) => new URL(rest.contentUrl(id)).pathname),
    prepareUpload: async (uploadName) => {
      const fileId = await rest.createFile(files.uploadDirId, uploadName, Buffer.alloc(0));
      uploads.set(uploadName, fileId);
      return rest.contentUrl(fileId);
    },
    removeUpload: async (uploadName) => {
      const fileId = uploads.get(uploadName);
      if (fileId !== undefined) {
        await rest.deleteFile(fileId);
        uploads.delete(uploadName);
      }
    },
  };
}

/** Starts `op-worker start` on the embedded default and waits for its URL, token and health. */
async function launchWorker(repoDir: string, dataDir: string, workDir: string, nodeFlags: string[]): Promise<{ running: RunningProcess; rest: WorkerRest }> {
  const binary = join(repoDir, 'server', 'bin', 'op-worker.js');
  const args = [...nodeFlags, binary, 'start', '--data-dir', dataDir, '--port', '0'];
  const logPath = join(workDir, 'logs', 'op-worker.log');
  const logStart = await sizeOf(logPath);
  const running = startProcess('op-worker', process.execPath, args, logPath);

  const match = await waitForLog(running, /(http:\/\/127\.0\.0\.1:\d+)/, 60_000, logStart);
  const baseUrl = match[1] as string;
  const token = await waitForToken(join(dataDir, 'admin-token'));
  await waitForHttp(running, `${baseUrl}/health`);
  return { running, rest: new WorkerRest(baseUrl, token) };
}

async function sizeOf(path: string): Promise<number> {
  try {
    return (await stat(path)).size;
  } catch {
    return 0;
  }
}

async function waitForToken(path: string): Promise<string> {
  for (let attempt = 0; attempt < 100; attempt++) {
    try {
      const token = (await readFile(path, 'utf8')).trim();
      if (token !== '') {
        return token;
      }
    } catch {
      // The worker writes the token file during start; poll until it appears.
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  throw new Error(`the worker wrote no admin token to ${path} within 10 s`);
}

const WORKER_SPACE = 'default';
const UPLOAD_CONCURRENCY = 8;

/** Copies the fixture into the worker's default space through the REST API, before any timing. */
async function loadFixture(rest: WorkerRest, fixture: Fixture): Promise<{ largeFileId: string; smallFileIds: string[]; uploadDirId: string }> {
  const spaceDirId = await rest.lookupFileId(WORKER_SPACE);
  const smallDirId = await rest.createDirectory(spaceDirId, fixture.smallDirName);
  const uploadDirId = await rest.createDirectory(spaceDirId, fixture.uploadDirName);
  const largeFileId = await rest.createFile(spaceDirId, fixture.largeFileName, { fromFile: join(fixture.rootDir, fixture.largeFileName) });

  const smallFileIds: string[] = new Array(fixture.smallFileNames.length);
  let next = 0;
  const uploadNext = async (): Promise<void> => {
    while (next < fixture.smallFileNames.length) {
      const index = next++;
      const fileName = fixture.smallFileNames[index] as string;
      const content = await readFile(join(fixture.rootDir, fixture.smallDirName, fileName));
      smallFileIds[index] = await rest.createFile(smallDirId, fileName, content);
    }
  };
  await Promise.all(Array.from({ length: UPLOAD_CONCURRENCY }, uploadNext));

  return { largeFileId, smallFileIds, uploadDirId };
}
