import { StorageError, type ConfigSchema, type StorageConfig } from '@op-worker/core';

/** Default S3 region, also the one S3-compatible servers usually accept. */
export const DEFAULT_REGION = 'us-east-1';

/**
 * Configuration schema of the S3 helper. Option names follow Onedata's S3 helper so
 * that a storage description written for Onedata reads the same here.
 */
export const s3ConfigSchema: ConfigSchema = {
  hostname: {
    type: 'string',
    required: true,
    help: 'S3 endpoint URL with scheme, e.g. https://s3.eu-west-1.amazonaws.com or http://127.0.0.1:9000; a bare host means https',
  },
  bucketName: { type: 'string', required: true, help: 'Name of an existing bucket that contains the objects' },
  region: { type: 'string', default: DEFAULT_REGION, help: 'Region used to sign requests' },
  signatureVersion: {
    type: 'integer',
    default: 4,
    minimum: 4,
    maximum: 4,
    help: 'AWS signature version; only 4 is supported',
  },
  verifyServerCertificate: {
    type: 'boolean',
    default: true,
    help: 'Verify the TLS certificate of an https endpoint; set false only for self-signed test servers',
  },
  accessKey: {
    type: 'string',
    secret: true,
    help: 'Access key id; leave accessKey and secretKey empty to use the AWS SDK default credential chain',
  },
  secretKey: { type: 'string', secret: true, help: 'Secret access key that belongs to accessKey' },
  storagePathType: {
    type: 'enum',
    values: ['flat', 'canonical'],
    default: 'flat',
    help: 'Storage path layout: flat (path derived from the file id) or canonical (path mirrors the logical path)',
  },
  maximumCanonicalObjectSize: {
    type: 'integer',
    default: 0,
    minimum: 0,
    help:
      'Largest object size in bytes that a write at an offset or a truncate may rewrite; 0 means no limit. ' +
      'Each such write builds a new object on the server, copying the unchanged ranges server-side',
  },
  forcePathStyle: {
    type: 'boolean',
    help: 'Address the bucket in the URL path instead of the host name; defaults to true unless the hostname is an amazonaws.com host',
  },
  maxConnections: {
    type: 'integer',
    default: 25,
    minimum: 1,
    maximum: 1000,
    help: 'Maximum number of concurrent HTTP connections to the endpoint',
  },
};

/** Configuration after validation, with every derived value resolved. */
export interface S3Settings {
  /** Endpoint URL including scheme and port, without a trailing slash. */
  endpoint: string;
  /** `host:port` of the endpoint, for error messages. */
  endpointAddress: string;
  bucket: string;
  region: string;
  verifyServerCertificate: boolean;
  credentials?: { accessKeyId: string; secretAccessKey: string };
  storagePathType: 'flat' | 'canonical';
  /** Bytes; 0 means no limit. */
  maximumRewriteSize: number;
  forcePathStyle: boolean;
  maxConnections: number;
}

/**
 * Resolve a configuration already validated against `s3ConfigSchema` into settings.
 * Throws ConfigInvalid naming the option for values the schema cannot check.
 */
export function resolveS3Settings(config: StorageConfig): S3Settings {
  const endpointUrl = parseEndpoint(String(config['hostname'] ?? ''));
  const credentials = resolveCredentials(config);
  const bucket = String(config['bucketName'] ?? '');
  if (bucket === '') {
    throw new StorageError('ConfigInvalid', 'S3 option bucketName is required: set it to an existing bucket');
  }

  const isAws = endpointUrl.hostname.endsWith('.amazonaws.com');
  const forcePathStyle = typeof config['forcePathStyle'] === 'boolean' ? config['forcePathStyle'] : !isAws;

  return {
    endpoint: endpointUrl.origin,
    endpointAddress: `${endpointUrl.hostname}:${endpointPort(endpointUrl)}`,
    bucket,
    region: String(config['region'] ?? DEFAULT_REGION),
    verifyServerCertificate: config['verifyServerCertificate'] !== false,
    ...(credentials === undefined ? {} : { credentials }),
    storagePathType: config['storagePathType'] === 'canonical' ? 'canonical' : 'flat',
    maximumRewriteSize: Number(config['maximumCanonicalObjectSize'] ?? 0),
    forcePathStyle,
    maxConnections: Number(config['maxConnections'] ?? 25),
  };
}

function parseEndpoint(hostname: string): URL {
  const withScheme = /^[a-z][a-z0-9+.-]*:\/\//i.test(hostname) ? hostname : `https://${hostname}`;
  let url: URL;
  try {
    url = new URL(withScheme);
  } catch {
    throw new StorageError('ConfigInvalid', `S3 option hostname "${hostname}" is not a valid URL; use e.g. https://s3.example.org`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw new StorageError('ConfigInvalid', `S3 option hostname "${hostname}" must use http:// or https://`);
  }
  if (url.pathname !== '/' || url.search !== '') {
    throw new StorageError('ConfigInvalid', `S3 option hostname "${hostname}" must not contain a path or query; put the bucket in bucketName`);
  }
  return url;
}

function endpointPort(url: URL): string {
  if (url.port !== '') return url.port;
  return url.protocol === 'https:' ? '443' : '80';
}

function resolveCredentials(config: StorageConfig): S3Settings['credentials'] {
  const accessKeyId = String(config['accessKey'] ?? '');
  const secretAccessKey = String(config['secretKey'] ?? '');
  if (accessKeyId === '' && secretAccessKey === '') return undefined;
  if (accessKeyId === '' || secretAccessKey === '') {
    throw new StorageError('ConfigInvalid', 'S3 options accessKey and secretKey must be set together, or both left empty');
  }
  return { accessKeyId, secretAccessKey };
}
