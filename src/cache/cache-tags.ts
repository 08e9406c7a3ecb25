/** Most tags one entry, or one expiry, may carry. */
export const MAX_TAGS = 64;
/** Longest tag, in characters. */
export const MAX_TAG_LENGTH = 256;
/** A tag is printable ASCII without spaces or commas, which separate tags. */
const TAG = /^[\x21-\x2b\x2d-\x7e]+$/;

/** Whether a string is one tag the gateway takes. */
export function isTag(value: string): boolean {
  return value.length <= MAX_TAG_LENGTH && TAG.test(value);
}

/**
 * The tags of an `x-cache-tags` or `x-cache-expire-tags` header, or of a purge request: separated
 * by spaces and/or commas, duplicates once. Undefined when any tag breaks the rules (more than
 * {@link MAX_TAGS}, longer than {@link MAX_TAG_LENGTH}, not printable ASCII): an entry stored
 * without one of its tags could never be purged by it, so such a response is not stored at all.
 */
export function parseTags(value: string | string[]): string[] | undefined {
  const tags = new Set<string>();
  for (const line of Array.isArray(value) ? value : [value]) {
    for (const tag of line.split(/[\s,]+/)) {
      if (tag === '') continue;
      if (!isTag(tag)) return undefined;
      tags.add(tag);
    }
  }
  return tags.size <= MAX_TAGS ? [...tags] : undefined;
}
