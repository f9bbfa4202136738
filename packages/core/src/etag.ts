/**
 * Entity tags (RFC 9110 §8.8.3): quote-aware list parsing and the strong and weak comparisons of §8.8.3.2.
 */

/** One entity-tag as it appeared in a field: its opaque part (quotes included) and whether it carried `W/`. */
export interface EntityTag {
  readonly weak: boolean;
  /** The opaque-tag including its double quotes, e.g. `"abc"`. */
  readonly opaque: string;
}

/** The parsed value of `If-Match` / `If-None-Match`: `*`, a list of entity-tags, or a syntax error. */
export type EntityTagList =
  | { readonly type: 'any' }
  | { readonly type: 'tags'; readonly tags: readonly EntityTag[] }
  | { readonly type: 'invalid' };

/** Parses one entity-tag (`"x"` or `W/"x"`); `undefined` when it is not one. */
export function parseEntityTag(value: string): EntityTag | undefined {
  const text = value.trim();
  const weak = text.startsWith('W/');
  const opaque = weak ? text.slice(2) : text;
  if (opaque.length < 2 || opaque.charCodeAt(0) !== 0x22 || opaque.charCodeAt(opaque.length - 1) !== 0x22) {
    return undefined;
  }
  for (let i = 1; i < opaque.length - 1; i++) {
    if (!isEtagc(opaque.charCodeAt(i))) return undefined;
  }
  return { weak, opaque };
}

/** etagc = %x21 / %x23-7E / obs-text (RFC 9110 §8.8.3). */
function isEtagc(c: number): boolean {
  return c === 0x21 || (c >= 0x23 && c <= 0x7e) || (c >= 0x80 && c <= 0xff);
}

/**
 * Parses `If-Match` / `If-None-Match`: `*` or a comma-separated list of entity-tags, where a comma inside
 * the quotes does not split (RFC 9110 §13.1.1, §13.1.2). Empty list elements are allowed (§5.6.1).
 */
export function parseEntityTagList(value: string | readonly string[] | undefined): EntityTagList | undefined {
  if (value === undefined) return undefined;
  const text = (typeof value === 'string' ? value : value.join(', ')).trim();
  if (text === '*') return { type: 'any' };
  const tags: EntityTag[] = [];
  let i = 0;
  const n = text.length;
  while (i < n) {
    const c = text.charCodeAt(i);
    if (c === 0x2c || c === 0x20 || c === 0x09) {
      i++;
      continue;
    }
    const start = i;
    if (text.startsWith('W/', i)) i += 2;
    if (text.charCodeAt(i) !== 0x22) return { type: 'invalid' };
    const close = text.indexOf('"', i + 1);
    if (close === -1) return { type: 'invalid' };
    const tag = parseEntityTag(text.slice(start, close + 1));
    if (tag === undefined) return { type: 'invalid' };
    tags.push(tag);
    i = close + 1;
    // After a tag only OWS and then a comma or the end may follow.
    while (i < n && (text.charCodeAt(i) === 0x20 || text.charCodeAt(i) === 0x09)) i++;
    if (i < n && text.charCodeAt(i) !== 0x2c) return { type: 'invalid' };
  }
  return tags.length === 0 ? { type: 'invalid' } : { type: 'tags', tags };
}

/** Strong comparison (RFC 9110 §8.8.3.2): both tags strong and their opaque parts identical. */
export function strongMatch(a: EntityTag, b: EntityTag): boolean {
  return !a.weak && !b.weak && a.opaque === b.opaque;
}

/** Weak comparison (RFC 9110 §8.8.3.2): the opaque parts identical, whatever the weakness flags. */
export function weakMatch(a: EntityTag, b: EntityTag): boolean {
  return a.opaque === b.opaque;
}
