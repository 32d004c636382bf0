/** Public facts about this provider, shown by `/configuration`. */
export interface ProviderInfo {
  providerId: string;
  name: string;
  /** Host name clients use to reach the worker. */
  domain: string;
  version: string;
}

/** Build the `/configuration` body in the shape of Onedata's `Configuration` model. */
export function configurationBody(provider: ProviderInfo): Record<string, unknown> {
  return {
    providerId: provider.providerId,
    name: provider.name,
    domain: provider.domain,
    onezoneDomain: null,
    version: provider.version,
    build: provider.version,
    compatibleOnezoneVersions: [],
    compatibleOneproviderVersions: [provider.version],
    compatibleOneclientVersions: [],
  };
}
