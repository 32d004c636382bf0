import { randomUUID } from 'node:crypto';
import { CreateBucketCommand, S3Client } from '@aws-sdk/client-s3';
import type { StorageConfig, StorageHelper } from '@op-worker/core';
import { pino } from 'pino';
import { S3_LIMITS, createS3Helper, type PartLimits } from '../src/index.js';

export const TEST_CREDENTIALS = { accessKeyId: 'testing-access-key', secretAccessKey: 'testing-secret-key' };

export const silentLogger = pino({ level: 'silent' });

/** A configuration for a bucket on `endpoint` with the test credentials. */
export function testConfig(endpoint: string, bucketName: string, extra: StorageConfig = {}): StorageConfig {
  return {
    hostname: endpoint,
    bucketName,
    region: 'us-east-1',
    accessKey: TEST_CREDENTIALS.accessKeyId,
    secretKey: TEST_CREDENTIALS.secretAccessKey,
    ...extra,
  };
}

/** A plain SDK client for checks made beside the helper. */
export function directClient(endpoint: string): S3Client {
  return new S3Client({
    endpoint,
    region: 'us-east-1',
    forcePathStyle: true,
    credentials: TEST_CREDENTIALS,
    requestChecksumCalculation: 'WHEN_REQUIRED',
    responseChecksumValidation: 'WHEN_REQUIRED',
  });
}

/** Create a fresh bucket with a random name and return its name. */
export async function createBucket(client: S3Client, label: string): Promise<string> {
  const bucket = `op-${label}-${randomUUID().slice(0, 8)}`;
  await client.send(new CreateBucketCommand({ Bucket: bucket }));
  return bucket;
}

export function createTestHelper(
  endpoint: string,
  bucket: string,
  limits: PartLimits = S3_LIMITS,
  extra: StorageConfig = {},
): Promise<StorageHelper> {
  return createS3Helper(testConfig(endpoint, bucket, extra), { storageId: `s3-${bucket}`, logger: silentLogger }, limits);
}
