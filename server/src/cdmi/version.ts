import { ApiError } from '../errors.js';

export const CDMI_VERSION_HEADER = 'X-CDMI-Specification-Version';
/** Versions accepted in the request header; both mean CDMI 1.1.1. */
export const SUPPORTED_CDMI_VERSIONS = ['1.1.1', '1.1'] as const;
/** Version sent on every response under `/cdmi/`. */
export const RESPONSE_CDMI_VERSION = '1.1.1';

/**
 * Parse `X-CDMI-Specification-Version`: a comma-separated list of which the first
 * supported entry wins. Returns undefined when the header is absent; throws 400
 * `badVersion` with `supportedVersions` when it is present but lists none we support.
 */
export function negotiateCdmiVersion(header: string | undefined): string | undefined {
  if (header === undefined) return undefined;

  const offered = header.split(',').map((version) => version.trim());
  const chosen = offered.find((version) => (SUPPORTED_CDMI_VERSIONS as readonly string[]).includes(version));
  if (chosen === undefined) {
    throw new ApiError(400, 'badVersion', `unsupported CDMI version "${header}"; send ${CDMI_VERSION_HEADER}: 1.1.1`, {
      supportedVersions: [...SUPPORTED_CDMI_VERSIONS],
    });
  }
  return RESPONSE_CDMI_VERSION;
}
