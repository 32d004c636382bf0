import { StorageError, type ConfigSchema, type StorageConfig } from '@op-worker/core';

const MIB = 1024 * 1024;

/** Largest block Azure accepts in one Put Block call (service version 2019-12-12 and later). */
export const MAX_BLOCK_SIZE = 4000 * MIB;

/** Most committed blocks one block blob may have. */
export const MAX_BLOCKS_PER_BLOB = 50_000;

export const DEFAULT_BLOCK_SIZE = 8 * MIB;

export const azureConfigSchema: ConfigSchema = {
  connectionString: {
    type: 'string',
    secret: true,
    help: 'Storage account connection string (contains the account key or a SAS). Give this, or accountName with accountKey, or sasToken.',
  },
  accountName: {
    type: 'string',
    help: 'Storage account name. Needed with accountKey; with sasToken it only derives the default endpoint.',
  },
  accountKey: {
    type: 'string',
    secret: true,
    help: 'Base64 shared key of the storage account named by accountName.',
  },
  sasToken: {
    type: 'string',
    secret: true,
    help: 'Shared access signature query string (with or without the leading "?") granting read, write, delete and list on the container.',
  },
  containerName: {
    type: 'string',
    required: true,
    help: 'Blob container that contains the objects of this storage. It must exist.',
  },
  endpoint: {
    type: 'string',
    help: 'Blob service URL, e.g. https://<account>.blob.core.windows.net or http://127.0.0.1:10000/devstoreaccount1 for Azurite. Defaults to the public Azure endpoint of accountName; not allowed with connectionString.',
  },
  storagePathType: {
    type: 'enum',
    values: ['flat', 'canonical'],
    default: 'flat',
    help: 'How storage paths derive from logical paths: flat (from the file id, so renames touch only metadata) or canonical (mirrors the logical path).',
  },
  blockSize: {
    type: 'integer',
    default: DEFAULT_BLOCK_SIZE,
    minimum: 64 * 1024,
    maximum: MAX_BLOCK_SIZE,
    help: 'Size in bytes of the blocks a write stages. A blob holds at most 50,000 blocks, so this caps the blob size at 50,000 × blockSize.',
  },
  uploadConcurrency: {
    type: 'integer',
    default: 4,
    minimum: 1,
    maximum: 32,
    help: 'Blocks one write stages in parallel. A write holds about uploadConcurrency × blockSize bytes in memory.',
  },
  listPageSize: {
    type: 'integer',
    default: 5000,
    minimum: 1,
    maximum: 5000,
    help: 'Entries requested per List Blobs call (Azure returns at most 5,000).',
  },
  maxTries: {
    type: 'integer',
    default: 3,
    minimum: 1,
    maximum: 10,
    help: 'Attempts the Azure SDK makes for one request before the helper reports the failure.',
  },
};

/** Credential of the helper: exactly one form per storage. */
export type AzureCredential =
  | { form: 'connectionString'; connectionString: string }
  | { form: 'accountKey'; accountName: string; accountKey: string; endpoint: string }
  | { form: 'sasToken'; sasToken: string; endpoint: string };

/** Validated settings of one Azure storage. */
export interface AzureSettings {
  credential: AzureCredential;
  containerName: string;
  blockSize: number;
  uploadConcurrency: number;
  listPageSize: number;
  maxTries: number;
}

/**
 * Check the rules the schema cannot express (exactly one credential form, an endpoint
 * to reach) and build typed settings. Throws ConfigInvalid naming the options to fix.
 */
export function parseAzureSettings(config: StorageConfig): AzureSettings {
  const credential = parseCredential(config);

  const containerName = optionalString(config, 'containerName');
  if (containerName === undefined) {
    throw configInvalid('storage option "containerName" is required: name the blob container of this storage');
  }

  return {
    credential,
    containerName,
    blockSize: integerOption(config, 'blockSize', DEFAULT_BLOCK_SIZE),
    uploadConcurrency: integerOption(config, 'uploadConcurrency', 4),
    listPageSize: integerOption(config, 'listPageSize', 5000),
    maxTries: integerOption(config, 'maxTries', 3),
  };
}

function parseCredential(config: StorageConfig): AzureCredential {
  const connectionString = optionalString(config, 'connectionString');
  const accountName = optionalString(config, 'accountName');
  const accountKey = optionalString(config, 'accountKey');
  const sasToken = optionalString(config, 'sasToken');
  const endpoint = optionalString(config, 'endpoint');

  const given = [connectionString && 'connectionString', accountKey && 'accountKey', sasToken && 'sasToken'].filter(Boolean);
  if (given.length !== 1) {
    const found = given.length === 0 ? 'none was given' : `got ${given.join(', ')}`;
    throw configInvalid(
      `give exactly one Azure credential: connectionString, or accountName with accountKey, or sasToken (${found})`,
    );
  }

  if (connectionString !== undefined) {
    if (endpoint !== undefined || accountName !== undefined) {
      throw configInvalid('options "endpoint" and "accountName" are not allowed with "connectionString"; put BlobEndpoint and AccountName into the connection string');
    }
    return { form: 'connectionString', connectionString };
  }

  if (accountKey !== undefined) {
    if (accountName === undefined) {
      throw configInvalid('option "accountKey" needs "accountName": name the storage account the key belongs to');
    }
    return { form: 'accountKey', accountName, accountKey, endpoint: endpointOrDefault(endpoint, accountName) };
  }

  if (endpoint === undefined && accountName === undefined) {
    throw configInvalid('option "sasToken" needs "endpoint" (the blob service URL) or "accountName" to derive it');
  }
  return { form: 'sasToken', sasToken: sasToken!.replace(/^\?/, ''), endpoint: endpointOrDefault(endpoint, accountName!) };
}

function endpointOrDefault(endpoint: string | undefined, accountName: string): string {
  const url = endpoint ?? `https://${accountName}.blob.core.windows.net`;
  try {
    new URL(url);
  } catch {
    throw configInvalid(`option "endpoint" is not a valid URL: "${url}"; give the blob service URL with its scheme`);
  }
  return url.replace(/\/+$/, '');
}

function optionalString(config: StorageConfig, name: string): string | undefined {
  const value = config[name];
  return typeof value === 'string' && value !== '' ? value : undefined;
}

function integerOption(config: StorageConfig, name: string, fallback: number): number {
  const value = config[name];
  return typeof value === 'number' ? value : fallback;
}

function configInvalid(message: string): StorageError {
  return new StorageError('ConfigInvalid', message);
}
