import { OpError } from '../errors.js';

/**
 * Onedata's space privileges, with the names of `ctool/include/privileges.hrl`
 * (Onedata 21.02). A member holds a set of them per space; the space owner and provider
 * administrators hold all of them implicitly.
 */
export const SPACE_PRIVILEGES = [
  'space_view',
  'space_update',
  'space_delete',
  'space_view_privileges',
  'space_set_privileges',
  'space_read_data',
  'space_write_data',
  'space_register_files',
  'space_manage_shares',
  'space_view_views',
  'space_manage_views',
  'space_query_views',
  'space_view_statistics',
  'space_view_changes_stream',
  'space_view_transfers',
  'space_schedule_replication',
  'space_cancel_replication',
  'space_schedule_eviction',
  'space_cancel_eviction',
  'space_view_qos',
  'space_manage_qos',
  'space_add_user',
  'space_remove_user',
  'space_add_group',
  'space_remove_group',
  'space_add_support',
  'space_remove_support',
  'space_add_harvester',
  'space_remove_harvester',
  'space_manage_datasets',
  'space_view_archives',
  'space_create_archives',
  'space_manage_archives',
  'space_remove_archives',
  'space_recall_archives',
  'space_view_atm_workflow_executions',
  'space_schedule_atm_workflow_executions',
  'space_manage_atm_workflow_executions',
] as const;

export type SpacePrivilege = (typeof SPACE_PRIVILEGES)[number];

const KNOWN = new Set<string>(SPACE_PRIVILEGES);

/**
 * Privileges of a member added without an explicit list: Onedata's "member" preset,
 * which reads and writes data and views, but manages nothing.
 */
export const DEFAULT_MEMBER_PRIVILEGES: readonly SpacePrivilege[] = [
  'space_view',
  'space_read_data',
  'space_write_data',
  'space_view_views',
  'space_query_views',
  'space_view_statistics',
  'space_view_changes_stream',
  'space_view_transfers',
  'space_view_qos',
  'space_view_archives',
  'space_view_atm_workflow_executions',
];

/**
 * Privileges whose operations change nothing: viewing the space, its data, views,
 * statistics, changes, transfers, QoS, archives and workflows. Every other privilege
 * guards a change, which a token with the `data.readonly` caveat never makes.
 */
export const VIEW_PRIVILEGES: ReadonlySet<SpacePrivilege> = new Set<SpacePrivilege>([
  'space_view',
  'space_view_privileges',
  'space_read_data',
  'space_view_views',
  'space_query_views',
  'space_view_statistics',
  'space_view_changes_stream',
  'space_view_transfers',
  'space_view_qos',
  'space_view_archives',
  'space_view_atm_workflow_executions',
]);

/** Privileges of a read-only member: the `--privileges viewer` preset of the CLI. */
export const VIEWER_PRIVILEGES: readonly SpacePrivilege[] = ['space_view', 'space_read_data'];

/** Named presets accepted wherever a privilege list is parsed. */
const PRESETS: Record<string, readonly SpacePrivilege[]> = {
  member: DEFAULT_MEMBER_PRIVILEGES,
  viewer: VIEWER_PRIVILEGES,
  all: SPACE_PRIVILEGES,
  none: [],
};

export function isSpacePrivilege(value: string): value is SpacePrivilege {
  return KNOWN.has(value);
}

/**
 * Parse privilege names (a list, or one comma-separated string) into a sorted set.
 * The presets `member`, `viewer`, `all` and `none` expand to their lists. Throws
 * `badValue` (key `privileges`) naming the first unknown entry.
 */
export function parsePrivileges(input: string | readonly string[]): SpacePrivilege[] {
  const names = typeof input === 'string' ? input.split(',') : input;
  const result = new Set<SpacePrivilege>();
  for (const raw of names) {
    const name = raw.trim();
    if (name === '') continue;
    const preset = PRESETS[name];
    if (preset !== undefined) {
      for (const privilege of preset) result.add(privilege);
      continue;
    }
    if (!isSpacePrivilege(name)) {
      throw OpError.badValue('privileges', `unknown space privilege "${name}"; use the presets ${Object.keys(PRESETS).join(', ')} or names such as space_read_data`);
    }
    result.add(name);
  }
  return [...result].sort();
}
