import { StorageError, type ConfigSchema, type StorageConfig } from '@op-worker/core';

/** Dialect of writes at an offset that the server speaks; `none` when it has none. */
export type RangeWriteSupport = 'none' | 'sabredav' | 'moddav';

export type CredentialsType = 'none' | 'basic' | 'token';

/**
 * Options of a WebDAV storage. The names follow Onedata's WebDAV helper, so a storage
 * described for Onedata reads the same here.
 */
export const webdavConfigSchema: ConfigSchema = {
  endpoint: {
    type: 'string',
    required: true,
    help: 'URL of the WebDAV collection that is the storage root, e.g. https://dav.example.org/data/ (http or https, no credentials in the URL)',
  },
  credentialsType: {
    type: 'enum',
    values: ['none', 'basic', 'token'],
    default: 'none',
    help: 'How requests authenticate: none, basic (HTTP basic authentication) or token (a token sent in authorizationHeader)',
  },
  credentials: {
    type: 'string',
    secret: true,
    help: 'For basic: "username:password"; for token: the token. Unused when credentialsType is none',
  },
  authorizationHeader: {
    type: 'string',
    default: 'Authorization: Bearer {}',
    help: 'Header that carries the token when credentialsType is token, as "Name: value" where {} stands for the token',
  },
  verifyServerCertificate: {
    type: 'boolean',
    default: true,
    help: 'Verify the TLS certificate of an https endpoint; set false only for a test server with a self-signed certificate',
  },
  rangeWriteSupport: {
    type: 'enum',
    values: ['none', 'sabredav', 'moddav'],
    default: 'none',
    help: 'How the server accepts writes at an offset: none, sabredav (PATCH with X-Update-Range) or moddav (PUT with Content-Range, as Apache mod_dav)',
  },
  connectionPoolSize: {
    type: 'integer',
    default: 25,
    minimum: 1,
    maximum: 1024,
    help: 'Maximum number of open connections to the server',
  },
  maximumUploadSize: {
    type: 'integer',
    default: 0,
    minimum: 0,
    help: 'Largest object one write may create, in bytes; 0 means no limit',
  },
  timeout: {
    type: 'integer',
    default: 60_000,
    minimum: 1000,
    help: 'Milliseconds to wait for response headers, and for each chunk of a response body, before the request fails',
  },
};

/** Validated, typed settings of one helper. */
export interface WebdavSettings {
  /** Endpoint URL with a path ending in `/`. */
  endpoint: URL;
  credentialsType: CredentialsType;
  /** Header name and value sent with every request, when credentials are configured. */
  authorization?: { name: string; value: string };
  /** User name of basic credentials, for error messages. */
  username?: string;
  verifyServerCertificate: boolean;
  rangeWriteSupport: RangeWriteSupport;
  connectionPoolSize: number;
  maximumUploadSize: number;
  timeoutMs: number;
}

/**
 * Turn a configuration already checked against `webdavConfigSchema` into settings,
 * checking what the schema cannot express. Throws `ConfigInvalid` naming the option.
 */
export function parseWebdavSettings(config: StorageConfig): WebdavSettings {
  const endpoint = parseEndpoint(String(config.endpoint ?? ''));
  const credentialsType = (config.credentialsType ?? 'none') as CredentialsType;

  return {
    endpoint,
    credentialsType,
    ...authorizationOf(credentialsType, config),
    verifyServerCertificate: config.verifyServerCertificate !== false,
    rangeWriteSupport: (config.rangeWriteSupport ?? 'none') as RangeWriteSupport,
    connectionPoolSize: Number(config.connectionPoolSize ?? 25),
    maximumUploadSize: Number(config.maximumUploadSize ?? 0),
    timeoutMs: Number(config.timeout ?? 60_000),
  };
}

function parseEndpoint(text: string): URL {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw invalid('endpoint', `"${text}" is not a URL; give one such as https://dav.example.org/data/`);
  }

  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw invalid('endpoint', `scheme "${url.protocol}" is not supported; use http or https`);
  }
  if (url.username !== '' || url.password !== '') {
    throw invalid('endpoint', 'must not contain credentials; set credentialsType and credentials instead');
  }
  if (url.search !== '' || url.hash !== '') {
    throw invalid('endpoint', 'must not contain a query or fragment');
  }

  if (!url.pathname.endsWith('/')) url.pathname += '/';
  return url;
}

function authorizationOf(type: CredentialsType, config: StorageConfig): Pick<WebdavSettings, 'authorization' | 'username'> {
  if (type === 'none') return {};

  const credentials = typeof config.credentials === 'string' ? config.credentials : '';
  if (credentials === '') throw invalid('credentials', `is required when credentialsType is ${type}`);

  if (type === 'basic') {
    const separator = credentials.indexOf(':');
    if (separator <= 0) throw invalid('credentials', 'must be "username:password" when credentialsType is basic');
    const value = `Basic ${Buffer.from(credentials).toString('base64')}`;
    return { authorization: { name: 'authorization', value }, username: credentials.slice(0, separator) };
  }

  const template = String(config.authorizationHeader ?? 'Authorization: Bearer {}');
  const colon = template.indexOf(':');
  if (colon <= 0 || !template.includes('{}')) {
    throw invalid('authorizationHeader', `"${template}" must look like "Name: value" with {} where the token goes`);
  }
  const name = template.slice(0, colon).trim().toLowerCase();
  const value = template.slice(colon + 1).trim().replaceAll('{}', credentials);
  return { authorization: { name, value } };
}

function invalid(option: string, problem: string): StorageError {
  return new StorageError('ConfigInvalid', `WebDAV storage option "${option}" ${problem}`, { context: { option } });
}
