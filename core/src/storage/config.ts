import { OpError } from '../errors.js';
import type { ConfigSchema, StorageConfig } from './helper.js';

/** Text that replaces a secret option's value whenever a configuration is shown. */
export const REDACTED = '*****';

/**
 * Validate raw configuration values against a plugin's schema and apply defaults.
 * Strings are accepted for integers and booleans, because values come from CLI flags
 * and environment variables too. Throws `badValue` naming the option and the fix.
 */
export function parseStorageConfig(schema: ConfigSchema, raw: Record<string, unknown>): StorageConfig {
  const config: StorageConfig = {};

  for (const name of Object.keys(raw)) {
    if (!(name in schema)) {
      const known = Object.keys(schema).join(', ');
      throw OpError.badValue(name, `unknown storage option "${name}"; known options: ${known}`);
    }
  }

  for (const [name, option] of Object.entries(schema)) {
    const value = raw[name] ?? option.default;
    if (value === undefined || value === '') {
      if (option.required) {
        throw new OpError('missingValue', `storage option "${name}" is required: ${option.help}`, { key: name });
      }
      continue;
    }
    config[name] = coerceOption(name, option.type, value, option.values, option.minimum, option.maximum);
  }

  return config;
}

function coerceOption(
  name: string,
  type: ConfigSchema[string]['type'],
  value: unknown,
  values?: readonly string[],
  minimum?: number,
  maximum?: number,
): string | number | boolean {
  switch (type) {
    case 'string':
      if (typeof value !== 'string') throw OpError.badValue(name, `storage option "${name}" must be a string`);
      return value;
    case 'enum':
      if (typeof value !== 'string' || !values?.includes(value)) {
        throw OpError.badValue(name, `storage option "${name}" must be one of: ${(values ?? []).join(', ')}`);
      }
      return value;
    case 'boolean':
      if (typeof value === 'boolean') return value;
      if (value === 'true') return true;
      if (value === 'false') return false;
      throw OpError.badValue(name, `storage option "${name}" must be true or false`);
    case 'integer': {
      const number = typeof value === 'string' && /^-?\d+$/.test(value) ? Number(value) : value;
      if (typeof number !== 'number' || !Number.isSafeInteger(number)) {
        throw OpError.badValue(name, `storage option "${name}" must be an integer`);
      }
      if ((minimum !== undefined && number < minimum) || (maximum !== undefined && number > maximum)) {
        throw OpError.badValue(name, `storage option "${name}" must be between ${minimum ?? '-∞'} and ${maximum ?? '∞'}`);
      }
      return number;
    }
  }
}

/** Copy a configuration with every secret option replaced by `*****`. */
export function redactStorageConfig(schema: ConfigSchema, config: Record<string, unknown>): Record<string, unknown> {
  const shown: Record<string, unknown> = {};
  for (const [name, value] of Object.entries(config)) {
    shown[name] = schema[name]?.secret ? REDACTED : value;
  }
  return shown;
}
