import { isDeepStrictEqual } from 'node:util';
import { minimatch, Minimatch } from 'minimatch';
import type { Logger } from 'pino';
import { OpError } from '../errors.js';
import type { DataEvents, EventBus } from '../events/bus.js';
import { decodeFileId, encodeFileId } from '../ids/file-id.js';
import { newJobId, type JobContext, type JobRunner } from '../jobs/runner.js';
import type { LogicalFileSystem } from '../lfs/api.js';
import type { FileAttributes, Identity, JsonValue, SpaceInfo } from '../lfs/types.js';
import type { MetadataStore } from '../metadata/store.js';
import { parseQosExpression } from '../qos/expression.js';
import type { QosService } from '../qos/service.js';
import type { Clock } from '../tokens.js';
import type { ReplicaEngine } from '../transfers/replicas.js';
import {
  MAX_RULE_NAME_LENGTH,
  RULE_COLLECTION,
  spaceRulesParent,
  type AddRuleRequest,
  type RuleAction,
  type RuleDoc,
  type RuleJobView,
  type RuleMatch,
  type RuleMatchResult,
} from './model.js';

/** Rules act for the provider: this identity passes the file system's access checks as an administrator. */
const RULES_IDENTITY: Identity = { userId: 'op-worker-rules', isAdmin: true };

const APPLY_JOB = 'rule-apply';
const PAGE = 1000;

/** Result of applying a rule to one file. */
export type RuleOutcome = 'done' | 'unchanged' | 'skipped' | 'failed';

/**
 * Administrator rules: a declarative match over the files of a space and one action.
 * A rule runs when applied (a job over the whole space) and, with trigger `change`, on
 * each file that `file.changed` reports. A dry run lists the files it would touch.
 */
export class RuleEngine {
  constructor(
    private readonly store: MetadataStore,
    private readonly lfs: LogicalFileSystem,
    private readonly jobs: JobRunner,
    private readonly replicas: ReplicaEngine,
    private readonly qos: QosService,
    events: EventBus,
    private readonly clock: Clock,
    private readonly logger: Logger,
  ) {
    jobs.register<{ ruleId: string; fileId?: string }, { afterPath?: string }>(APPLY_JOB, (context) => this.runApply(context));
    events.on('file.changed', (event) => this.onFileChanged(event));
  }

  async add(request: AddRuleRequest): Promise<RuleDoc> {
    validateRule(request);
    const space = await this.lfs.getSpace(RULES_IDENTITY, request.spaceId);
    checkActionStorages(request.action, space);
    const ruleId = newJobId(this.clock.now());
    const doc: RuleDoc = { ruleId, name: request.name, spaceId: request.spaceId, match: request.match, action: request.action, trigger: request.trigger ?? 'manual', createdMs: this.clock.now() };
    await this.store.create(RULE_COLLECTION, ruleId, doc);
    await this.store.addChild(spaceRulesParent(doc.spaceId), ruleId, ruleId);
    this.logger.info({ ruleId, spaceId: doc.spaceId, action: doc.action.type }, 'rule added');
    return doc;
  }

  async get(ruleId: string): Promise<RuleDoc> {
    const document = await this.store.get<RuleDoc>(RULE_COLLECTION, ruleId);
    if (!document) throw OpError.notFound(`rule "${ruleId}"`, { ruleId });
    return document.value;
  }

  async list(spaceId: string): Promise<RuleDoc[]> {
    const entries = await this.store.listChildren(spaceRulesParent(spaceId), { limit: 10_000 });
    const documents = await this.store.getMany<RuleDoc>(RULE_COLLECTION, entries.map((entry) => entry.childId));
    return [...documents.values()].map((document) => document.value);
  }

  async remove(ruleId: string): Promise<void> {
    const doc = await this.get(ruleId);
    await this.store.removeChild(spaceRulesParent(doc.spaceId), ruleId);
    await this.store.delete(RULE_COLLECTION, ruleId);
    this.logger.info({ ruleId }, 'rule removed');
  }

  /** Files the rule selects now, without acting on them. */
  async dryRun(ruleId: string): Promise<RuleMatchResult[]> {
    const rule = await this.get(ruleId);
    const matches: RuleMatchResult[] = [];
    await this.forEachFile(rule.spaceId, undefined, async (file, relativePath) => {
      if (await this.matches(rule.match, file, relativePath)) matches.push({ fileId: file.fileId, path: relativePath, size: file.size });
    });
    return matches;
  }

  /** Apply a rule to every file it selects, as a background job; returns the job id. */
  async apply(ruleId: string): Promise<string> {
    await this.get(ruleId);
    const job = await this.jobs.enqueue(APPLY_JOB, { ruleId });
    return job.jobId;
  }

  /** Read a run that `apply` started. A job id of another kind is not found. */
  async job(jobId: string): Promise<RuleJobView> {
    const job = await this.jobs.get<{ ruleId: string; fileId?: string }, { afterPath?: string }>(jobId);
    if (!job || job.kind !== APPLY_JOB) throw OpError.notFound(`rule job "${jobId}"`, { jobId });

    const view: RuleJobView = { jobId, ruleId: job.params.ruleId, state: job.state, createdMs: job.createdMs };
    if (job.progress?.afterPath !== undefined) view.lastPath = job.progress.afterPath;
    if (job.error !== undefined) view.error = job.error;
    if (job.finishedMs !== undefined) view.finishedMs = job.finishedMs;
    return view;
  }

  private async runApply({ job, signal, saveProgress }: JobContext<{ ruleId: string; fileId?: string }, { afterPath?: string }>): Promise<void> {
    const rule = (await this.store.get<RuleDoc>(RULE_COLLECTION, job.params.ruleId))?.value;
    if (!rule) return;
    if (job.params.fileId !== undefined) {
      const file = await this.lfs.getAttributes(RULES_IDENTITY, job.params.fileId).catch(() => undefined);
      if (file && (await this.matches(rule.match, file, relativeTo(file.path)))) await this.act(rule, file, signal);
      return;
    }
    await this.forEachFile(rule.spaceId, job.progress?.afterPath, async (file, relativePath) => {
      signal.throwIfAborted();
      if (await this.matches(rule.match, file, relativePath)) await this.act(rule, file, signal);
      await saveProgress({ afterPath: relativePath });
    });
  }

  private async onFileChanged(event: DataEvents['file.changed']): Promise<void> {
    if (event.deleted || event.type !== 'REG') return;
    const entries = await this.store.listChildren(spaceRulesParent(event.spaceId), { limit: 1 });
    if (entries.length === 0) return;
    const fileId = encodeFileId({ fileUuid: event.fileUuid, spaceId: event.spaceId });
    for (const rule of await this.list(event.spaceId)) {
      if (rule.trigger === 'change') await this.jobs.enqueue(APPLY_JOB, { ruleId: rule.ruleId, fileId });
    }
  }

  /** Carry out a rule's action on one file. Actions that would change nothing are skipped, so a rule's own change does not loop. */
  private async act(rule: RuleDoc, file: FileAttributes, signal: AbortSignal): Promise<RuleOutcome> {
    // NOTE: a hard link's id names the link document, not the inode whose replicas the action means.
    const fileUuid = decodeFileId(file.fileId).fileUuid;
    try {
      switch (rule.action.type) {
        case 'replicate': {
          const storages = await this.qos.evaluate(RULES_IDENTITY, rule.spaceId, rule.action.expression);
          let copied = 0;
          for (const storage of storages) copied += await this.replicas.replicateFile(fileUuid, storage.id, { signal });
          return copied > 0 ? 'done' : 'unchanged';
        }
        case 'evict': {
          const outcome = await this.replicas.evictFile(fileUuid, rule.action.storageId, (doc, storageId) => this.qos.isProtected(doc, storageId));
          return outcome === 'evicted' ? 'done' : 'skipped';
        }
        case 'migrate': {
          await this.replicas.replicateFile(fileUuid, rule.action.toStorageId, { signal });
          const outcome = await this.replicas.evictFile(fileUuid, rule.action.fromStorageId, (doc, storageId) => this.qos.isProtected(doc, storageId));
          return outcome === 'evicted' ? 'done' : 'skipped';
        }
        case 'delete':
          await this.lfs.remove(RULES_IDENTITY, file.fileId);
          return 'done';
        case 'setMetadata': {
          const current = await this.lfs.getXattrs(RULES_IDENTITY, file.fileId);
          const changed = Object.entries(rule.action.xattrs).some(([name, value]) => !isDeepStrictEqual(current[name], value));
          if (!changed) return 'unchanged';
          await this.lfs.setXattrs(RULES_IDENTITY, file.fileId, rule.action.xattrs);
          return 'done';
        }
      }
    } catch (error) {
      if (signal.aborted) throw error;
      this.logger.warn({ err: error, ruleId: rule.ruleId, fileId: file.fileId }, 'rule action failed');
      return 'failed';
    }
  }

  private async matches(match: RuleMatch, file: FileAttributes, relativePath: string): Promise<boolean> {
    if (match.pathGlob !== undefined && !minimatch(relativePath, match.pathGlob, { dot: true })) return false;
    if (match.namePattern !== undefined && !minimatch(file.name, match.namePattern, { dot: true })) return false;
    if (match.minSize !== undefined && file.size < match.minSize) return false;
    if (match.maxSize !== undefined && file.size > match.maxSize) return false;
    const nowSeconds = Math.floor(this.clock.now() / 1000);
    if (match.modifiedOlderThanSeconds !== undefined && nowSeconds - file.mtime < match.modifiedOlderThanSeconds) return false;
    if (match.accessedOlderThanSeconds !== undefined && nowSeconds - file.atime < match.accessedOlderThanSeconds) return false;
    if (match.metadata !== undefined) return isDeepStrictEqual(await this.metadataValue(file, match.metadata.name), match.metadata.value);
    return true;
  }

  private async metadataValue(file: FileAttributes, name: string): Promise<JsonValue | undefined> {
    if (!name.startsWith('json.')) return (await this.lfs.getXattrs(RULES_IDENTITY, file.fileId))[name];
    const document = await this.lfs.getJsonMetadata(RULES_IDENTITY, file.fileId).catch(() => undefined);
    let value: JsonValue | undefined = document;
    for (const key of name.slice('json.'.length).split('.')) {
      value = value !== null && typeof value === 'object' && !Array.isArray(value) ? value[key] : undefined;
    }
    return value;
  }

  /** Visit the regular files of a space in path order, after `afterPath` when given. */
  private async forEachFile(spaceId: string, afterPath: string | undefined, visit: (file: FileAttributes, relativePath: string) => Promise<void>): Promise<void> {
    const space = await this.lfs.getSpace(RULES_IDENTITY, spaceId);
    let token: string | undefined;
    for (;;) {
      const page = await this.lfs.listRecursive(RULES_IDENTITY, space.dirId, { limit: PAGE, token, startAfter: token === undefined ? afterPath : undefined });
      for (const file of page.files) {
        if (file.type === 'REG') await visit(file, file.path);
      }
      if (page.isLast || page.nextPageToken === null) return;
      token = page.nextPageToken;
    }
  }
}

function relativeTo(logicalPath: string): string {
  return logicalPath.split('/').slice(2).join('/');
}

/** Check a rule on its own, before its space is read. */
function validateRule(request: AddRuleRequest): void {
  checkName(request.name);
  checkMatch(request.match, request.action);
  if (request.action.type === 'migrate' && request.action.fromStorageId === request.action.toStorageId) {
    throw OpError.badValue('action.toStorageId', `a migrate action needs two different storages, got "${request.action.toStorageId}" for both`);
  }
  if (request.action.type === 'setMetadata' && Object.keys(request.action.xattrs).length === 0) {
    throw OpError.badValue('action.xattrs', 'a setMetadata action needs at least one extended attribute in "xattrs"');
  }
  if (request.action.type === 'replicate') parseQosExpression(request.action.expression);
}

function checkName(name: string): void {
  if (name.length === 0) throw OpError.badValue('name', 'a rule needs a non-empty name');
  if (name.length > MAX_RULE_NAME_LENGTH) {
    throw OpError.badValue('name', `a rule name has at most ${MAX_RULE_NAME_LENGTH} characters, got ${name.length}`);
  }
}

function checkMatch(match: RuleMatch, action: RuleAction): void {
  for (const key of ['minSize', 'maxSize', 'modifiedOlderThanSeconds', 'accessedOlderThanSeconds'] as const) {
    const value = match[key];
    if (value !== undefined && (!Number.isSafeInteger(value) || value < 0)) {
      throw OpError.badValue(`match.${key}`, `match.${key} must be a non-negative integer, got ${String(value)}`);
    }
  }
  if (match.minSize !== undefined && match.maxSize !== undefined && match.minSize > match.maxSize) {
    throw OpError.badValue('match.minSize', `match.minSize (${match.minSize}) is larger than match.maxSize (${match.maxSize}), so no file could match`);
  }

  for (const key of ['pathGlob', 'namePattern'] as const) {
    const glob = match[key];
    if (glob !== undefined) checkGlob(`match.${key}`, glob);
  }
  if (match.pathGlob?.startsWith('/')) {
    const suggestion = match.pathGlob.replace(/^\/+/, '');
    throw OpError.badValue('match.pathGlob', `match.pathGlob is relative to the space root, so it matches nothing with a leading "/". Write "${suggestion}"`);
  }

  const conditions = Object.keys(match).filter((key) => key !== 'matchAll');
  if (match.matchAll === true && conditions.length > 0) {
    throw OpError.badValue('match.matchAll', `match.matchAll selects every file, so it takes no other condition. Remove it or ${conditions.join(', ')}`);
  }
  if (action.type === 'delete' && conditions.length === 0 && match.matchAll !== true) {
    throw OpError.badValue('match', 'a delete rule needs at least one match condition. Set match.matchAll to true to delete every file of the space');
  }
}

/** Reject storage ids in an action that do not support the rule's space, as a transfer does. */
function checkActionStorages(action: RuleAction, space: SpaceInfo): void {
  const named: Array<[string, string]> =
    action.type === 'evict' ? [['action.storageId', action.storageId]]
    : action.type === 'migrate' ? [['action.fromStorageId', action.fromStorageId], ['action.toStorageId', action.toStorageId]]
    : [];
  for (const [key, storageId] of named) {
    if (space.storageIds.includes(storageId)) continue;
    throw new OpError('badValue', `space "${space.name}" is not supported by storage "${storageId}". Give in ${key} a storage id that supports it`, {
      key,
      errorId: 'spaceNotSupportedBy',
      spaceId: space.spaceId,
      storageId,
    });
  }
}

/** Compile a glob when its rule is added, so that a glob minimatch rejects is a 400 there instead of a 500 in every dry run or run. */
function checkGlob(key: string, glob: string): void {
  try {
    new Minimatch(glob, { dot: true });
  } catch (error) {
    throw OpError.badValue(key, `${key} is an invalid glob: ${error instanceof Error ? error.message : String(error)}`);
  }
}
