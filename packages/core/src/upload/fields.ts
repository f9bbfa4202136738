/**
 * Header fields of the two upload protocols: tus 1.0.0's plain ones (decimal digits, base64 metadata,
 * `algorithm digest` checksums) and the draft's RFC 9651 structured fields, parsed with `structured-headers`.
 */
import { parseItem } from 'structured-headers';

type HeaderValue = string | string[] | undefined;

/** One field value, or undefined when absent or repeated (a repeated singleton field is invalid). */
export function single(value: HeaderValue): string | undefined {
  if (Array.isArray(value)) return value.length === 1 ? value[0] : undefined;
  return value;
}

/** tus: a non-negative integer in decimal digits, within the safe range; undefined otherwise. */
export function parseTusInteger(value: HeaderValue): number | undefined {
  const text = single(value);
  if (text === undefined || !/^\d{1,16}$/.test(text)) return undefined;
  const number = Number(text);
  return Number.isSafeInteger(number) ? number : undefined;
}

/** Parses an RFC 9651 Item, or undefined when the field is absent, repeated or invalid. */
function structuredItem(value: HeaderValue): unknown {
  // Node joins repeated custom fields with ", ", which makes a list, not an Item: invalid either way.
  const text = single(value);
  if (text === undefined) return undefined;
  try {
    return parseItem(text)[0];
  } catch {
    return undefined;
  }
}

/** Draft: a Boolean item (`?0`/`?1`, parameters allowed); any other value is ignored (undefined). */
export function parseStructuredBoolean(value: HeaderValue): boolean | undefined {
  const item = structuredItem(value);
  return typeof item === 'boolean' ? item : undefined;
}

/** Draft: a non-negative Integer item; any other value is ignored (undefined). */
export function parseStructuredInteger(value: HeaderValue): number | undefined {
  // structured-headers gives a Decimal (`4.0`) as the same JS number as the Integer `4`: look at the
  // bare item itself, which must be digits only (RFC 9651 §3.3.1: at most 15 of them).
  if (!/^ *\d{1,15}(?:;|$)/.test(single(value) ?? '')) return undefined;
  const item = structuredItem(value);
  return typeof item === 'number' && Number.isSafeInteger(item) && item >= 0 ? item : undefined;
}

/** `Upload-Limit` as the draft's Dictionary: the keys of the interop version, with Integer values. */
export function formatLimits(limits: ReadonlyArray<readonly [string, number]>): string {
  return limits.map(([key, value]) => `${key}=${Math.max(0, Math.floor(value))}`).join(', ');
}

const METADATA_KEY = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

/**
 * tus `Upload-Metadata`: comma-separated `key base64value` or `key` pairs, keys unique tokens, values
 * strict base64 (padding required) holding UTF-8. Undefined when any pair is malformed.
 */
export function parseUploadMetadata(value: HeaderValue): Record<string, string | null> | undefined {
  const text = single(value);
  const result: Record<string, string | null> = Object.create(null) as Record<string, string | null>;
  if (text === undefined || text.trim() === '') return result;
  for (const pair of text.split(',')) {
    const parts = pair.trim().split(' ');
    const key = parts[0] ?? '';
    if (parts.length > 2 || !METADATA_KEY.test(key) || key in result) return undefined;
    const encoded = parts[1];
    if (encoded === undefined) {
      result[key] = null;
      continue;
    }
    if (!BASE64.test(encoded)) return undefined;
    const bytes = Buffer.from(encoded, 'base64');
    const decoded = new TextDecoder('utf-8', { fatal: true });
    try {
      result[key] = decoded.decode(bytes);
    } catch {
      return undefined;
    }
  }
  return result;
}

/** Formats metadata pairs back into an `Upload-Metadata` value. */
export function formatUploadMetadata(metadata: Readonly<Record<string, string | null>>): string {
  return Object.entries(metadata)
    .map(([key, value]) => (value === null ? key : `${key} ${Buffer.from(value, 'utf8').toString('base64')}`))
    .join(',');
}

/** The checksum algorithms of tus's checksum extension, by their tus names (node:crypto names alike). */
export const CHECKSUM_ALGORITHMS = ['sha1', 'sha256', 'sha512', 'md5'] as const;
/** One of {@link CHECKSUM_ALGORITHMS}. */
export type ChecksumAlgorithm = (typeof CHECKSUM_ALGORITHMS)[number];

/** tus `Upload-Checksum: <algorithm> <base64 digest>`: the parsed pair, `unsupported`, or `invalid`. */
export function parseUploadChecksum(
  value: HeaderValue,
): { algorithm: ChecksumAlgorithm; digest: Buffer } | 'unsupported' | 'invalid' | undefined {
  const text = single(value);
  if (value === undefined) return undefined;
  if (text === undefined) return 'invalid';
  const match = /^([a-z0-9-]+) ([A-Za-z0-9+/=]+)$/.exec(text.trim());
  if (match === null || !BASE64.test(match[2] ?? '')) return 'invalid';
  const algorithm = match[1] as ChecksumAlgorithm;
  if (!CHECKSUM_ALGORITHMS.includes(algorithm)) return 'unsupported';
  return { algorithm, digest: Buffer.from(match[2] ?? '', 'base64') };
}

const MEDIA_TYPE =
  /^[!#$%&'*+.^_`|~0-9A-Za-z-]+\/[!#$%&'*+.^_`|~0-9A-Za-z-]+(?:\s*;\s*[!#$%&'*+.^_`|~0-9A-Za-z-]+=(?:[!#$%&'*+.^_`|~0-9A-Za-z-]+|"[^"\\\r\n]*"))*$/;

/** True for a valid Content-Type value (RFC 9110 §8.3.1: `type/subtype` and parameters). */
export function isMediaType(value: string): boolean {
  return MEDIA_TYPE.test(value);
}

/** The media type of a Content-Type value, lowercased, without parameters. */
export function mediaType(value: HeaderValue): string | undefined {
  const text = single(value);
  if (text === undefined) return undefined;
  return (text.split(';')[0] ?? '').trim().toLowerCase();
}

/** tus `Upload-Concat`: a partial upload, or a final one with the references of its parts. */
export type UploadConcatField =
  { readonly kind: 'partial' } | { readonly kind: 'final'; readonly references: readonly string[] };

/**
 * tus concatenation's `Upload-Concat`: `partial`, or `final;` and a list of upload URLs separated by
 * spaces (the spec: "absolute or relative and MUST NOT contain spaces"). `invalid` for anything else;
 * an empty list is returned as such, for the caller to refuse with its own words.
 */
export function parseUploadConcat(value: HeaderValue): UploadConcatField | 'invalid' | undefined {
  if (value === undefined) return undefined;
  const text = single(value)?.trim();
  if (text === undefined) return 'invalid';
  if (text === 'partial') return { kind: 'partial' };
  if (!text.startsWith('final;')) return 'invalid';
  const references = text
    .slice('final;'.length)
    .split(' ')
    .filter((reference) => reference !== '');
  return { kind: 'final', references };
}
