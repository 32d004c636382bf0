import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chmod, readFile, rm } from 'node:fs/promises';
import path from 'node:path';
import { CreateBucketCommand, S3Client } from '@aws-sdk/client-s3';
import { BlobServiceClient, StorageSharedKeyCredential } from '@azure/storage-blob';
import { ScriptServer, greetsWithSshBanner } from './script-server.js';

/**
 * The three remote storage servers of the plugins, each started through its script and
 * able to hand out fresh storage options (a bucket, a root directory, a container) for
 * `storages.add`. Each test file starts each server once and takes new names from it.
 */

export type StorageOptions = Record<string, string | number | boolean>;

/** A running storage server that can prepare a fresh, empty storage location on itself. */
export interface StorageServer {
  readonly type: 's3' | 'sftp' | 'azure';
  readonly server: ScriptServer;
  /** Create an empty bucket, directory or container and return helper options that reach it. */
  newStorage(label: string): Promise<StorageOptions>;
  /** Options of the same storage with credentials the server rejects. */
  withWrongCredentials(options: StorageOptions): Promise<StorageOptions>;
  /** Create again what a server restart lost (moto keeps buckets in memory only). */
  recreate(options: StorageOptions): Promise<void>;
  /** Stop the server and remove its state and every storage location made on this machine. */
  stop(): Promise<void>;
}

/** Return a fresh location name of lower-case letters, digits and dashes, valid for buckets and containers. */
function uniqueName(label: string): string {
  return `${label}-${randomBytes(4).toString('hex')}`.toLowerCase();
}

/** Region sent by the S3 clients; moto accepts any. */
const S3_REGION = 'us-east-1';

/** Credentials sent to a moto that does not check them. */
const UNCHECKED_CREDENTIALS = { accessKeyId: 'op-worker-test-key', secretAccessKey: 'op-worker-test-secret' };

/**
 * moto's S3. By default moto accepts any credentials. With `authentication`, the first
 * three requests, which create an IAM user with an access key and an allow-all policy,
 * go unchecked (`INITIAL_NO_AUTH_ACTION_COUNT`), and every later request must be signed
 * with that key, so that wrong credentials can be tested.
 *
 * NOTE: moto 5.2.1 with authentication on rejects valid signatures for keys that contain
 * a space or `%` (SignatureDoesNotMatch), and returns 403 for a HEAD of a missing
 * object, so only credential tests use that mode.
 */
export async function startS3(options: { authentication?: boolean } = {}): Promise<StorageServer> {
  const env: Record<string, string> = options.authentication ? { INITIAL_NO_AUTH_ACTION_COUNT: '3' } : {};
  const server = await ScriptServer.start('moto', { env });
  const credentials = options.authentication ? await createIamUser(server.url) : UNCHECKED_CREDENTIALS;
  const client = new S3Client({
    endpoint: server.url,
    region: S3_REGION,
    forcePathStyle: true,
    credentials,
    requestChecksumCalculation: 'WHEN_REQUIRED',
    responseChecksumValidation: 'WHEN_REQUIRED',
  });

  const createBucket = (bucket: string) => client.send(new CreateBucketCommand({ Bucket: bucket })).then(() => undefined);
  return {
    type: 's3',
    server,
    async newStorage(label) {
      const bucketName = uniqueName(label);
      await createBucket(bucketName);
      return { hostname: server.url, bucketName, region: S3_REGION, accessKey: credentials.accessKeyId, secretKey: credentials.secretAccessKey };
    },
    async withWrongCredentials(options) {
      return { ...options, secretKey: `${credentials.secretAccessKey}-wrong` };
    },
    async recreate(options) {
      await createBucket(String(options['bucketName']));
    },
    stop: () => server.stop(),
  };
}

/**
 * Create an IAM user, its access key and an allow-all inline policy through moto's IAM
 * query API. These requests run before authentication starts, so moto reads only the
 * service name from the Authorization header and ignores its signature.
 */
async function createIamUser(endpoint: string): Promise<{ accessKeyId: string; secretAccessKey: string }> {
  const userName = 'op-worker-tests';
  const call = async (parameters: Record<string, string>): Promise<string> => {
    const response = await fetch(`${endpoint}/`, {
      method: 'POST',
      headers: {
        'Content-Type': 'application/x-www-form-urlencoded',
        Authorization: `AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20260101/${S3_REGION}/iam/aws4_request, SignedHeaders=host, Signature=0`,
      },
      body: new URLSearchParams({ Version: '2010-05-08', ...parameters }),
    });
    const text = await response.text();
    if (!response.ok) throw new Error(`moto IAM ${parameters['Action']} failed with HTTP ${response.status}: ${text}`);
    return text;
  };

  await call({ Action: 'CreateUser', UserName: userName });
  const key = await call({ Action: 'CreateAccessKey', UserName: userName });
  const policy = { Version: '2012-10-17', Statement: [{ Effect: 'Allow', Action: '*', Resource: '*' }] };
  await call({ Action: 'PutUserPolicy', UserName: userName, PolicyName: 'allow-all', PolicyDocument: JSON.stringify(policy) });

  const accessKeyId = /<AccessKeyId>([^<]+)</.exec(key)?.[1];
  const secretAccessKey = /<SecretAccessKey>([^<]+)</.exec(key)?.[1];
  if (accessKeyId === undefined || secretAccessKey === undefined) throw new Error(`moto CreateAccessKey returned no key: ${key}`);
  return { accessKeyId, secretAccessKey };
}

/** Home of the test user that `sshd.sh install` creates; storage roots are made below it. */
const SFTP_HOME = '/var/lib/opworker-sftp';
const SFTP_USER = 'opworker-sftp';

/** OpenSSH's sshd with the script's test user, key and host key fingerprint. */
export async function startSftp(): Promise<StorageServer> {
  const server = await ScriptServer.start('sshd', { ready: greetsWithSshBanner });
  // sshd reads the authorized keys below the state directory as the test user.
  await chmod(server.stateDir, 0o755);
  const keysDir = path.join(server.stateDir, 'data');
  const privateKey = await readFile(path.join(keysDir, 'client_key'), 'utf8');
  const hostKeyFingerprint = (await readFile(path.join(keysDir, 'host_fingerprint'), 'utf8')).trim();
  const roots: string[] = [];

  return {
    type: 'sftp',
    server,
    async newStorage(label) {
      const rootPath = path.join(SFTP_HOME, uniqueName(label));
      makeUserDirectory(rootPath);
      roots.push(rootPath);
      return { hostname: '127.0.0.1', port: server.port, username: SFTP_USER, privateKey, hostKeyFingerprint, rootPath, timeout: 15_000 };
    },
    async withWrongCredentials(options) {
      return { ...options, privateKey: generateKey() };
    },
    async recreate() {
      // The files live on this machine's disk and survive an sshd restart.
    },
    async stop() {
      await server.stop();
      await Promise.all(roots.map((root) => rm(root, { recursive: true, force: true })));
    },
  };
}

function makeUserDirectory(directory: string): void {
  const result = spawnSync('install', ['-d', '-o', SFTP_USER, '-m', '0755', directory], { encoding: 'utf8' });
  if (result.status !== 0) throw new Error(`cannot create SFTP storage root ${directory}: ${result.stderr}`);
}

/** Generate a fresh ed25519 private key (OpenSSH format) that no server accepts. */
function generateKey(): string {
  const file = `/tmp/op-it-wrong-key-${randomBytes(4).toString('hex')}`;
  const result = spawnSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', file], { encoding: 'utf8' });
  if (result.status !== 0) throw new Error(`ssh-keygen failed: ${result.stderr}`);
  const key = spawnSync('cat', [file], { encoding: 'utf8' }).stdout;
  spawnSync('rm', ['-f', file, `${file}.pub`]);
  return key;
}

/** Azurite's well-known development account, as published in Azurite's documentation. */
const AZURE_ACCOUNT = 'devstoreaccount1';
const AZURE_KEY = 'Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==';

/** Azurite's blob service, which keeps its data under the server's state directory. */
export async function startAzure(): Promise<StorageServer> {
  const server = await ScriptServer.start('azurite');
  const endpoint = `${server.url}/${AZURE_ACCOUNT}`;
  const service = new BlobServiceClient(endpoint, new StorageSharedKeyCredential(AZURE_ACCOUNT, AZURE_KEY), { retryOptions: { maxTries: 1 } });

  const createContainer = (name: string) => service.getContainerClient(name).createIfNotExists().then(() => undefined);
  return {
    type: 'azure',
    server,
    async newStorage(label) {
      const containerName = uniqueName(label);
      await createContainer(containerName);
      return { endpoint, accountName: AZURE_ACCOUNT, accountKey: AZURE_KEY, containerName };
    },
    async withWrongCredentials(options) {
      return { ...options, accountKey: Buffer.from('a key that Azurite does not know').toString('base64') };
    },
    async recreate(options) {
      await createContainer(String(options['containerName']));
    },
    stop: () => server.stop(),
  };
}
