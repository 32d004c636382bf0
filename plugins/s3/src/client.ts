import http from 'node:http';
import https from 'node:https';
import { S3Client } from '@aws-sdk/client-s3';
import type { S3Settings } from './config.js';

/** Everything an operation needs to reach the bucket and to name it in errors. */
export interface S3Target {
  client: S3Client;
  bucket: string;
  /** `host:port` of the endpoint. */
  endpointAddress: string;
  /** Access key id for error messages; never the secret. */
  accessKeyId?: string;
}

/**
 * Build the SDK client. Checksums are computed only when an operation requires them,
 * because many S3-compatible servers reject the CRC trailers that SDK versions since
 * 3.729 send by default. Retries stay the SDK's (3 attempts) so that one failed part
 * request does not fail a whole multipart upload whose input stream cannot be replayed.
 */
export function createS3Target(settings: S3Settings): S3Target {
  const agentOptions = { keepAlive: true, maxSockets: settings.maxConnections };

  const client = new S3Client({
    endpoint: settings.endpoint,
    region: settings.region,
    forcePathStyle: settings.forcePathStyle,
    ...(settings.credentials === undefined ? {} : { credentials: settings.credentials }),
    requestChecksumCalculation: 'WHEN_REQUIRED',
    responseChecksumValidation: 'WHEN_REQUIRED',
    requestHandler: {
      httpAgent: new http.Agent(agentOptions),
      httpsAgent: new https.Agent({ ...agentOptions, rejectUnauthorized: settings.verifyServerCertificate }),
      connectionTimeout: 10_000,
    },
  });

  return {
    client,
    bucket: settings.bucket,
    endpointAddress: settings.endpointAddress,
    ...(settings.credentials === undefined ? {} : { accessKeyId: settings.credentials.accessKeyId }),
  };
}

/** Encode a key for the `CopySource` header: each segment URL-encoded, slashes kept. */
export function copySourceOf(bucket: string, key: string): string {
  return `${bucket}/${key.split('/').map(encodeURIComponent).join('/')}`;
}
