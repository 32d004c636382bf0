import type { Server } from 'node:http';
import type { Duplex } from 'node:stream';
import type { Logger } from 'pino';

/**
 * Reply to requests that Node's HTTP parser rejects (malformed request line or headers,
 * bytes after a body that do not form a request, header overflow) with an Onedata error
 * body instead of Node's bare `400 Bad Request`, then close the connection. Such requests
 * never reach Koa, so the error middleware cannot answer them.
 */
export function replyToMalformedRequests(server: Server, logger: Logger): void {
  server.on('clientError', (error: NodeJS.ErrnoException, socket: Duplex) => {
    logger.debug({ err: error }, 'malformed HTTP request rejected');

    // NOTE: `_httpMessage` is Node's internal field for the response in progress on this socket,
    // which Node's default handler checks too. Once its head is sent, another status line would corrupt it.
    const pending = (socket as { _httpMessage?: { headersSent?: boolean } })._httpMessage;
    if (error.code === 'ECONNRESET' || !socket.writable || pending?.headersSent === true) {
      socket.destroy();
      return;
    }

    socket.end(errorResponse(replyFor(error), error.code ?? 'unknown'));
  });
}

function replyFor(error: NodeJS.ErrnoException): { status: number; reason: string; id: string; description: string } {
  if (error.code === 'HPE_HEADER_OVERFLOW') {
    return { status: 431, reason: 'Request Header Fields Too Large', id: 'badData', description: 'request headers are too large' };
  }
  if (error.code === 'ERR_HTTP_REQUEST_TIMEOUT') {
    return { status: 408, reason: 'Request Timeout', id: 'timeout', description: 'the request was not received in time' };
  }
  return {
    status: 400,
    reason: 'Bad Request',
    id: 'badData',
    description:
      'malformed HTTP request; a common cause is a body longer than its Content-Length, whose extra bytes are read as a next request',
  };
}

function errorResponse(status: ReturnType<typeof replyFor>, parserCode: string): string {
  const body = JSON.stringify({ error: { id: status.id, description: status.description, details: { parserError: parserCode } } });
  return (
    `HTTP/1.1 ${status.status} ${status.reason}\r\n` +
    'Content-Type: application/json; charset=utf-8\r\n' +
    `Content-Length: ${Buffer.byteLength(body)}\r\n` +
    'Connection: close\r\n\r\n' +
    body
  );
}
