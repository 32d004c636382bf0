import type { JobState } from '../jobs/runner.js';
import type { JsonValue } from '../lfs/types.js';

export const RULE_COLLECTION = 'data_rule';

export function spaceRulesParent(spaceId: string): string {
  return `rules:${spaceId}`;
}

/**
 * Conditions that select the files of a rule; every given condition must hold. Paths are relative to the
 * space root, without a leading slash (`dir/file.txt`). A `delete` rule needs at least one condition,
 * or `matchAll: true` to delete every file of the space on purpose.
 */
export interface RuleMatch {
  /** Select every file. Only this flag makes a `delete` rule without conditions valid, and it takes no other condition. */
  matchAll?: boolean;
  /** Glob over the path, as minimatch reads it (`**` crosses directories, `*` does not). */
  pathGlob?: string;
  /** Glob over the file name only. */
  namePattern?: string;
  /** Size range in bytes, inclusive. */
  minSize?: number;
  maxSize?: number;
  /** Seconds since the last modification at least this long. */
  modifiedOlderThanSeconds?: number;
  /** Seconds since the last access at least this long. */
  accessedOlderThanSeconds?: number;
  /** An extended attribute (or JSON metadata key, as `json.<key>`) equal to this value. */
  metadata?: { name: string; value: JsonValue };
}

export type RuleAction =
  | { type: 'replicate'; expression: string }
  | { type: 'evict'; storageId: string }
  | { type: 'migrate'; fromStorageId: string; toStorageId: string }
  | { type: 'delete' }
  | { type: 'setMetadata'; xattrs: Record<string, JsonValue> };

/** Maximum length of a rule name, in characters. */
export const MAX_RULE_NAME_LENGTH = 256;

/** An administrator's data-management rule for one space. */
export interface RuleDoc {
  ruleId: string;
  name: string;
  spaceId: string;
  match: RuleMatch;
  action: RuleAction;
  /** `change`: also run on every file that is created or changed; `manual`: only when applied. */
  trigger: 'change' | 'manual';
  createdMs: number;
}

export interface AddRuleRequest {
  name: string;
  spaceId: string;
  match: RuleMatch;
  action: RuleAction;
  trigger?: 'change' | 'manual';
}

/** A run of a rule over its space, as `apply` started it. */
export interface RuleJobView {
  jobId: string;
  ruleId: string;
  state: JobState;
  /** Path of the last file visited, relative to the space root. Absent before the first file. */
  lastPath?: string;
  error?: string;
  /** Milliseconds since the epoch. */
  createdMs: number;
  finishedMs?: number;
}

/** A file that a rule selects, as a dry run lists it. */
export interface RuleMatchResult {
  fileId: string;
  path: string;
  size: number;
}
