/** The few Oneprovider REST calls the benchmark needs to load files into the worker. */
import { createReadStream } from 'node:fs';
import { Readable } from 'node:stream';

export const REST_PREFIX = '/api/v3/oneprovider';

export class WorkerRest {
  constructor(
    readonly baseUrl: string,
    readonly token: string,
  ) {}

  get authHeaders(): Record<string, string> {
    return { 'X-Auth-Token': this.token };
  }

  /** Returns the file id of a path given as `<space name>/<path inside the space>`. */
  async lookupFileId(logicalPath: string): Promise<string> {
    const body = await this.request('POST', `/lookup-file-id/${encodePath(logicalPath)}`, 200);
    return readFileId(body, `lookup of ${logicalPath}`);
  }

  async createDirectory(parentId: string, name: string): Promise<string> {
    const body = await this.request('PUT', `/data/${parentId}/path/${encodePath(name)}?type=DIR`, 201);
    return readFileId(body, `directory ${name}`);
  }

  /** Creates a regular file at relativePath under parentId, with the given bytes or file as content. */
  async createFile(parentId: string, relativePath: string, content: Buffer | { fromFile: string }): Promise<string> {
    const body = Buffer.isBuffer(content) ? content : (Readable.toWeb(createReadStream(content.fromFile)) as ReadableStream);
    const response = await this.request('PUT', `/data/${parentId}/path/${encodePath(relativePath)}`, 201, body);
    return readFileId(response, `file ${relativePath}`);
  }

  async deleteFile(fileId: string): Promise<void> {
    await this.request('DELETE', `/data/${fileId}`, 204);
  }

  contentUrl(fileId: string): string {
    return `${this.baseUrl}${REST_PREFIX}/data/${fileId}/content`;
  }

  private async request(method: string, path: string, expectedStatus: number, body?: Buffer | ReadableStream): Promise<string> {
    const url = `${this.baseUrl}${REST_PREFIX}${path}`;
    const init: RequestInit & { duplex?: 'half' } = { method, headers: { ...this.authHeaders, 'Content-Type': 'application/octet-stream' } };
    if (body !== undefined) {
      init.body = body;
      init.duplex = 'half';
    }

    const response = await fetch(url, init);
    const text = await response.text();
    if (response.status !== expectedStatus) {
      throw new Error(`${method} ${url} returned ${response.status}, expected ${expectedStatus}: ${text.slice(0, 500)}`);
    }
    return text;
  }
}

function encodePath(path: string): string {
  return path.split('/').map(encodeURIComponent).join('/');
}

function readFileId(body: string, what: string): string {
  const parsed = JSON.parse(body) as { fileId?: unknown };
  if (typeof parsed.fileId !== 'string') {
    throw new Error(`the worker's reply for ${what} has no fileId: ${body.slice(0, 200)}`);
  }
  return parsed.fileId;
}
