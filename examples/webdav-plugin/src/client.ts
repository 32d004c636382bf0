import type { IncomingHttpHeaders } from 'node:http';
import type { Readable } from 'node:stream';
import { Pool, type Dispatcher } from 'undici';
import type { StorageError } from '@op-worker/core';
import type { WebdavSettings } from './config.js';
import { HttpStatusError, toStorageError, type RequestDescription } from './errors.js';

export interface DavRequestOptions {
  /** Address the collection URL (ending in `/`) rather than the file URL. */
  collection?: boolean;
  headers?: Record<string, string>;
  body?: Readable | string | Buffer;
}

/** A response with its body still unread. */
export interface DavResponse {
  status: number;
  headers: IncomingHttpHeaders;
  body: Dispatcher.ResponseData['body'];
  request: RequestDescription;
}

/**
 * The one HTTP client of a helper: a pool of keep-alive connections to the endpoint's
 * origin, which turns storage paths into URLs and adds the credentials. It never follows
 * redirects, so that a collection's redirect to its slash URL stays visible.
 */
export class WebdavClient {
  readonly origin: string;
  /** `host:port` of the endpoint, for messages. */
  readonly server: string;
  private readonly basePath: string;
  private readonly pool: Pool;

  constructor(private readonly settings: WebdavSettings) {
    this.origin = settings.endpoint.origin;
    this.server = settings.endpoint.host;
    this.basePath = settings.endpoint.pathname;
    this.pool = new Pool(this.origin, {
      connections: settings.connectionPoolSize,
      headersTimeout: settings.timeoutMs,
      bodyTimeout: settings.timeoutMs,
      connect: { rejectUnauthorized: settings.verifyServerCertificate },
    });
  }

  /**
   * URL path of a storage path: the endpoint's path and each segment percent-encoded, so
   * that `#`, `?`, `%` and `+` in names reach the server as name bytes.
   */
  urlPath(storagePath: string, collection = false): string {
    if (storagePath === '') return this.basePath;
    const encoded = storagePath.split('/').map(encodeURIComponent).join('/');
    return this.basePath + encoded + (collection ? '/' : '');
  }

  /** Absolute URL of a storage path, as COPY and MOVE need in their Destination header. */
  absoluteUrl(storagePath: string): string {
    return this.origin + this.urlPath(storagePath);
  }

  /** Send one request; a socket, DNS or TLS failure is thrown as a StorageError. */
  async request(method: string, storagePath: string, options: DavRequestOptions = {}): Promise<DavResponse> {
    const urlPath = this.urlPath(storagePath, options.collection);
    const request: RequestDescription = { method, server: this.server, urlPath, username: this.settings.username };

    const headers: Record<string, string> = { ...options.headers };
    if (this.settings.authorization) headers[this.settings.authorization.name] = this.settings.authorization.value;

    try {
      const response = await this.pool.request({ method: method as Dispatcher.HttpMethod, path: urlPath, headers, body: options.body });
      return { status: response.statusCode, headers: response.headers, body: response.body, request };
    } catch (error) {
      throw toStorageError(error, request);
    }
  }

  /** Drop the body of a response whose status the caller did not expect, and map the status. */
  async statusError(response: DavResponse): Promise<StorageError> {
    await discard(response);
    return toStorageError(new HttpStatusError(response.status, response.request), response.request);
  }

  async close(): Promise<void> {
    await this.pool.close();
  }
}

/** Read and drop a response body, so its connection returns to the pool. */
export async function discard(response: DavResponse): Promise<void> {
  try {
    await response.body.dump();
  } catch {
    // The connection broke while draining; the pool replaces it.
  }
}

/** True for a redirect to the same URL with a slash, which servers send for a collection. */
export function isSlashRedirect(response: DavResponse): boolean {
  const location = response.headers.location;
  return response.status >= 301 && response.status <= 308 && typeof location === 'string' && location.endsWith('/');
}
