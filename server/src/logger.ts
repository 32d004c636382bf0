import pino, { type Logger } from 'pino';
import type { WorkerConfig } from './config.js';

/**
 * Create the worker's pino logger. It writes JSON lines to stderr, so stdout carries only
 * what the CLI prints for people (URL, token). Authorization headers are redacted in
 * case a caller logs a request object.
 */
export function createLogger(level: WorkerConfig['logLevel']): Logger {
  return pino(
    {
      level,
      base: { pid: process.pid },
      redact: ['req.headers.authorization', 'req.headers["x-auth-token"]', 'token'],
    },
    pino.destination(2),
  );
}
