import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Logger } from 'pino';

/**
 * The manager's HTTP endpoint: `GET /status` (JSON status report), `GET /health`, and
 * `POST /rolling-restart`, which returns when the restart finished. It listens on the
 * manager's host, 127.0.0.1 by default.
 */
export interface StatusServerOptions {
  host: string;
  port: number;
  status: () => unknown;
  rollingRestart: () => Promise<string[]>;
  logger: Logger;
}

export interface StatusServer {
  url: string;
  close(): Promise<void>;
}

export async function startStatusServer(options: StatusServerOptions): Promise<StatusServer> {
  // NOTE: the endpoint has no authentication; anyone who can reach the address may trigger a rolling restart.
  const server = createServer((request, response) => void route(options, request, response));
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port, options.host, () => resolve());
  });
  const address = server.address() as AddressInfo;
  const host = address.address.includes(':') ? `[${address.address}]` : address.address;
  const url = `http://${host}:${address.port}`;
  options.logger.info({ statusUrl: url }, 'status endpoint listening');

  return {
    url,
    close: () =>
      new Promise((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

async function route(options: StatusServerOptions, request: IncomingMessage, response: ServerResponse): Promise<void> {
  const path = (request.url ?? '/').split('?')[0];
  try {
    if (request.method === 'GET' && path === '/status') return reply(response, 200, options.status());
    if (request.method === 'GET' && path === '/health') return reply(response, 200, { status: 'healthy' });
    if (request.method === 'POST' && path === '/rolling-restart') {
      options.logger.info('rolling restart requested');
      return reply(response, 200, { replaced: await options.rollingRestart() });
    }
    return reply(response, 404, { error: `no route for ${request.method} ${path}; use GET /status, GET /health or POST /rolling-restart` });
  } catch (error) {
    options.logger.error({ err: error, path }, 'status endpoint request failed');
    return reply(response, 500, { error: error instanceof Error ? error.message : String(error) });
  }
}

function reply(response: ServerResponse, status: number, body: unknown): void {
  response.statusCode = status;
  response.setHeader('Content-Type', 'application/json');
  response.end(`${JSON.stringify(body, null, 2)}\n`);
}
