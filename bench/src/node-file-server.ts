/**
 * Minimal reference file server on Node's `http` module, the baseline that shows what
 * plain Node reaches without a framework, a metadata store or authentication.
 *
 * GET streams a file under the root with `fs.createReadStream` (1 MiB highWaterMark, or the
 * file's size when smaller).
 * PUT writes the body to a file under the root and calls fsync before it replies 201,
 * so an upload it acknowledges is durable, the same promise the worker makes.
 *
 * Usage: node node-file-server.js <root dir> <port>   (listens on 127.0.0.1 only)
 */
import { createReadStream, createWriteStream } from 'node:fs';
import { mkdir, open, stat } from 'node:fs/promises';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { dirname, join, resolve, sep } from 'node:path';
import { pipeline } from 'node:stream/promises';

const READ_CHUNK_BYTES = 1024 * 1024;

/** Maps a URL path to a file under root, or returns undefined when it would leave the root. */
function resolveUnderRoot(root: string, urlPath: string): string | undefined {
  let decoded: string;
  try {
    decoded = decodeURIComponent(urlPath.split('?')[0] ?? '');
  } catch {
    return undefined;
  }
  if (decoded.includes('\0')) {
    return undefined;
  }

  const target = resolve(join(root, decoded));
  return target.startsWith(root + sep) ? target : undefined;
}

async function sendFile(path: string, response: ServerResponse): Promise<void> {
  const info = await stat(path);
  if (!info.isFile()) {
    response.writeHead(404).end();
    return;
  }

  response.writeHead(200, {
    'Content-Type': 'application/octet-stream',
    'Content-Length': info.size,
  });
  // A read stream allocates a whole highWaterMark buffer per read, so a small file gets
  // a chunk of its own size instead of 1 MiB.
  const chunkBytes = Math.max(1, Math.min(info.size, READ_CHUNK_BYTES));
  await pipeline(createReadStream(path, { highWaterMark: chunkBytes }), response);
}

async function receiveFile(path: string, request: IncomingMessage, response: ServerResponse): Promise<void> {
  await mkdir(dirname(path), { recursive: true });
  const handle = await open(path, 'w');
  try {
    await pipeline(request, createWriteStream('', { fd: handle.fd, autoClose: false }));
    await handle.sync();
  } finally {
    await handle.close();
  }
  response.writeHead(201).end();
}

async function handle(root: string, request: IncomingMessage, response: ServerResponse): Promise<void> {
  const path = resolveUnderRoot(root, request.url ?? '/');
  if (path === undefined) {
    response.writeHead(400).end();
    return;
  }

  if (request.method === 'GET') {
    await sendFile(path, response);
  } else if (request.method === 'PUT') {
    await receiveFile(path, request, response);
  } else {
    response.writeHead(405, { Allow: 'GET, PUT' }).end();
  }
}

function main(): void {
  const [rootArgument, portArgument] = process.argv.slice(2);
  const port = Number(portArgument);
  if (rootArgument === undefined || !Number.isInteger(port) || port < 0 || port > 65535) {
    console.error('usage: node node-file-server.js <root dir> <port 0-65535>');
    process.exit(2);
  }
  const root = resolve(rootArgument);

  const server = createServer((request, response) => {
    handle(root, request, response).catch((error: NodeJS.ErrnoException) => {
      if (response.headersSent) {
        response.destroy();
        return;
      }
      response.writeHead(error.code === 'ENOENT' ? 404 : 500).end();
    });
  });
  server.keepAliveTimeout = 60_000;

  server.listen(port, '127.0.0.1', () => {
    const address = server.address();
    const boundPort = typeof address === 'object' && address !== null ? address.port : port;
    console.log(`listening on http://127.0.0.1:${boundPort}`);
  });
  process.on('SIGTERM', () => server.close(() => process.exit(0)));
}

main();
