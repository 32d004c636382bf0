import { PassThrough } from 'node:stream';
import type Router from '@koa/router';
import type { FileChange, Identity, LogicalFileSystem } from '@op-worker/core';
import { readJsonBody } from '../http/json-body.js';
import { bodyValidator, queryValidator } from '../http/validate.js';
import { identityOf, type AppContext, type AppState } from '../state.js';

/** Changes read from the feed per poll. */
const BATCH = 500;
/** Pause between polls of an idle feed, in milliseconds. */
const POLL_INTERVAL_MS = 100;

interface ChangesQuery {
  /** Close the stream after this many milliseconds without a change. */
  timeout?: number;
  /** Resume after this sequence number; without it the stream starts with the next change. */
  last_seq?: number;
}

export const changesQuery = queryValidator<ChangesQuery>({
  type: 'object',
  properties: { timeout: { type: 'integer', minimum: 0 }, last_seq: { type: 'integer', minimum: 0 } },
  additionalProperties: false,
});

const documentSpec = (fields?: readonly string[]) => ({
  type: 'object',
  properties: {
    always: { type: 'boolean' },
    fields: { type: 'array', items: fields === undefined ? { type: 'string' } : { type: 'string', enum: fields } },
    exists: { type: 'array', items: { type: 'string' } },
  },
  additionalProperties: false,
});

const FILE_META_FIELDS = ['name', 'type', 'mode', 'owner', 'provider_id', 'shares', 'deleted'] as const;
const TIMES_FIELDS = ['atime', 'mtime', 'ctime'] as const;

interface DocumentSpec {
  always?: boolean;
  fields?: string[];
}

interface ChangesSpec {
  triggers?: Array<'fileMeta' | 'fileLocation' | 'times' | 'customMetadata'>;
  fileMeta?: DocumentSpec;
  fileLocation?: DocumentSpec;
  times?: DocumentSpec;
  customMetadata?: DocumentSpec & { exists?: string[] };
}

export const changesBody = bodyValidator<ChangesSpec>({
  type: 'object',
  properties: {
    triggers: { type: 'array', items: { type: 'string', enum: ['fileMeta', 'fileLocation', 'times', 'customMetadata'] } },
    fileMeta: documentSpec(FILE_META_FIELDS),
    fileLocation: documentSpec(['provider_id', 'storage_id', 'size', 'space_id', 'storage_file_created']),
    times: documentSpec(TIMES_FIELDS),
    customMetadata: documentSpec(),
  },
  additionalProperties: false,
});

/**
 * Register `POST /changes/metadata/{sid}`: a long-lived stream of a space's file changes,
 * one JSON event per line in sequence order. A client that reconnects with the `seq` of
 * the last event it read as `last_seq` gets every later change exactly once.
 *
 * NOTE: every change of a file is a `fileMeta` change here; location, times and custom
 * metadata documents are not told apart yet, so `triggers` other than fileMeta and times
 * select nothing of their own.
 */
export function registerChangesRoutes(router: Router<AppState>, lfs: LogicalFileSystem): void {
  router.post('/changes/metadata/:sid', async (ctx) => {
    const query = changesQuery(ctx.query);
    const spec = changesBody((await readJsonBody(ctx.req)) ?? {});
    const who = identityOf(ctx);
    const spaceId = ctx.params['sid'] ?? '';
    // Read even with last_seq, so that access and privilege errors are returned before the stream starts.
    const latest = await lfs.lastChangeSeq(who, spaceId);
    const start = query.last_seq ?? latest;

    const stream = new PassThrough();
    ctx.status = 200;
    ctx.type = 'application/json';
    ctx.body = stream;
    void pump(ctx, lfs, who, spaceId, start, query.timeout, spec, stream);
  });
}

async function pump(
  ctx: AppContext,
  lfs: LogicalFileSystem,
  who: Identity,
  spaceId: string,
  afterSeq: number,
  timeoutMs: number | undefined,
  spec: ChangesSpec,
  stream: PassThrough,
): Promise<void> {
  let closed = false;
  ctx.req.socket.once('close', () => {
    closed = true;
  });
  let seq = afterSeq;
  let idleSince = Date.now();
  try {
    while (!closed && !stream.destroyed) {
      // Read before the changes, so that when none is visible (a token limited by data
      // caveats skips the changes of other files) the stream can go on from here and
      // not scan the skipped changes again at every poll.
      const end = await lfs.lastChangeSeq(who, spaceId);
      const changes = await lfs.readChanges(who, spaceId, seq, BATCH);
      for (const change of changes) {
        if (!stream.write(`${JSON.stringify(toEvent(change, spec))}\n`)) await new Promise((resolve) => stream.once('drain', resolve));
        seq = change.seq;
      }
      if (changes.length > 0) {
        idleSince = Date.now();
        continue;
      }
      seq = Math.max(seq, end);
      if (timeoutMs !== undefined && Date.now() - idleSince >= timeoutMs) break;
      await new Promise((resolve) => setTimeout(resolve, POLL_INTERVAL_MS));
    }
    stream.end();
  } catch (error) {
    ctx.state.log.warn({ err: error, spaceId }, 'change stream ended by an error');
    stream.destroy(error as Error);
  }
}

function toEvent(change: FileChange, spec: ChangesSpec): Record<string, unknown> {
  const event: Record<string, unknown> = { fileId: change.fileId, filePath: change.filePath, seq: change.seq };
  const triggers = spec.triggers ?? ['fileMeta'];

  if (triggers.includes('fileMeta') || spec.fileMeta?.always) {
    const all: Record<string, unknown> = {
      name: change.name,
      type: change.type,
      mode: change.mode,
      owner: change.ownerUserId,
      deleted: change.deleted,
      shares: [],
    };
    event['fileMeta'] = { rev: String(change.seq), mutators: [], deleted: change.deleted, changed: true, fields: pick(all, spec.fileMeta?.fields ?? ['name', 'type', 'deleted']) };
  }
  if (triggers.includes('times') || spec.times?.always) {
    const seconds = (ms: number | undefined) => (ms === undefined ? undefined : Math.floor(ms / 1000));
    const all = { atime: seconds(change.atimeMs), mtime: seconds(change.mtimeMs), ctime: seconds(change.ctimeMs) };
    event['times'] = { rev: String(change.seq), mutators: [], deleted: false, changed: true, fields: pick(all, spec.times?.fields ?? [...TIMES_FIELDS]) };
  }
  return event;
}

function pick(all: Record<string, unknown>, names: readonly string[]): Record<string, unknown> {
  return Object.fromEntries(names.filter((name) => all[name] !== undefined).map((name) => [name, all[name]]));
}
