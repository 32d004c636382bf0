import {
  AnonymousCredential,
  BlobServiceClient,
  StorageSharedKeyCredential,
  type BlockBlobClient,
  type ContainerClient,
  type StoragePipelineOptions,
} from '@azure/storage-blob';
import type { StorageError } from '@op-worker/core';
import { toStorageError, type ErrorTarget } from './errors.js';
import type { AzureCredential, AzureSettings } from './config.js';

/**
 * The one place that builds Azure SDK clients. It stores the container and the names
 * that error messages need, and never exposes the credential.
 */
export class AzureClient {
  readonly container: ContainerClient;
  readonly endpoint: string;
  readonly accountName: string;
  readonly containerName: string;

  constructor(settings: AzureSettings) {
    const service = createServiceClient(settings.credential, pipelineOptions(settings.maxTries));
    this.container = service.getContainerClient(settings.containerName);
    this.containerName = settings.containerName;
    this.endpoint = stripQuery(service.url);
    this.accountName = service.accountName || accountNameFromUrl(this.endpoint);
  }

  /** Client of the block blob stored under a storage path (the path is the blob name). */
  blob(path: string): BlockBlobClient {
    return this.container.getBlockBlobClient(path);
  }

  /** Target description for error messages about `path`. */
  target(path?: string): ErrorTarget {
    return { endpoint: this.endpoint, accountName: this.accountName, containerName: this.containerName, path };
  }

  /** Map an SDK error about `path` to a StorageError. */
  error(error: unknown, path?: string): StorageError {
    return toStorageError(error, this.target(path));
  }
}

function createServiceClient(credential: AzureCredential, options: StoragePipelineOptions): BlobServiceClient {
  switch (credential.form) {
    case 'connectionString':
      return BlobServiceClient.fromConnectionString(credential.connectionString, options);
    case 'accountKey':
      return new BlobServiceClient(
        credential.endpoint,
        new StorageSharedKeyCredential(credential.accountName, credential.accountKey),
        options,
      );
    case 'sasToken':
      return new BlobServiceClient(`${credential.endpoint}?${credential.sasToken}`, new AnonymousCredential(), options);
  }
}

/**
 * SDK retries stay short because the core dispatcher retries whole operations with
 * its own backoff. A long SDK backoff would hide an unreachable service for minutes.
 */
function pipelineOptions(maxTries: number): StoragePipelineOptions {
  return {
    retryOptions: { maxTries, retryDelayInMs: 200, maxRetryDelayInMs: 2_000 },
    userAgentOptions: { userAgentPrefix: 'op-worker' },
  };
}

function stripQuery(url: string): string {
  const parsed = new URL(url);
  parsed.search = '';
  return parsed.toString().replace(/\/+$/, '');
}

/** Account name from a path-style URL (Azurite: http://host:port/<account>) or a host name. */
function accountNameFromUrl(url: string): string {
  const parsed = new URL(url);
  const firstSegment = parsed.pathname.split('/').find((segment) => segment !== '');
  return firstSegment ?? parsed.hostname.split('.')[0] ?? parsed.hostname;
}
