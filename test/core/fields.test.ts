// mergeResponseFields: one row per rule of how a list field range-serve writes meets the value another
// layer already put on the response (docs/behaviour.md "Composition with other middleware").
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { mergeList, mergeResponseFields } from '@range-serve/core/adapter';

interface Row {
  readonly name: string;
  /** What is on the response already. */
  readonly existing: Record<string, string | readonly string[]>;
  /** What range-serve is about to write. */
  readonly ours: Record<string, string>;
  readonly expected: Record<string, string>;
}

const ROWS: readonly Row[] = [
  {
    name: 'Vary from another layer is kept, ours appended',
    existing: { vary: 'Origin' },
    ours: { vary: 'Accept-Encoding' },
    expected: { vary: 'Origin, Accept-Encoding' },
  },
  {
    name: 'Vary names are compared case-insensitively and never duplicated',
    existing: { vary: 'accept-encoding, Origin' },
    ours: { vary: 'Accept-Encoding' },
    expected: { vary: 'accept-encoding, Origin' },
  },
  {
    name: 'Vary: * already varies on everything',
    existing: { vary: '*' },
    ours: { vary: 'Accept-Encoding' },
    expected: { vary: '*' },
  },
  {
    name: 'Vary set as several lines is read as one list',
    existing: { vary: ['Origin', 'Cookie'] },
    ours: { vary: 'Accept-Encoding, Origin' },
    expected: { vary: 'Origin, Cookie, Accept-Encoding' },
  },
  {
    name: 'nothing on the response: ours as it is',
    existing: {},
    ours: { vary: 'Accept-Encoding', 'cache-control': 'public, max-age=0' },
    expected: { vary: 'Accept-Encoding', 'cache-control': 'public, max-age=0' },
  },
  {
    name: 'Cache-Control set by another layer is kept whole: ours never adds public to a private response',
    existing: { 'cache-control': 'private, max-age=60' },
    ours: { 'cache-control': 'public, max-age=0' },
    expected: { 'cache-control': 'private, max-age=60' },
  },
  {
    name: 'a 206 adds no-transform to the Cache-Control another layer set',
    existing: { 'cache-control': 'private, max-age=60' },
    ours: { 'cache-control': 'public, max-age=0, no-transform' },
    expected: { 'cache-control': 'private, max-age=60, no-transform' },
  },
  {
    name: "a restriction of ours is added to another layer's Cache-Control, whose lifetime and public stay",
    existing: { 'cache-control': 'public, max-age=3600' },
    ours: { 'cache-control': 'no-cache' },
    expected: { 'cache-control': 'public, max-age=3600, no-cache' },
  },
  {
    name: 'no-transform already there is not repeated, whatever its case',
    existing: { 'cache-control': 'No-Transform, max-age=5' },
    ours: { 'cache-control': 'no-transform' },
    expected: { 'cache-control': 'No-Transform, max-age=5' },
  },
  {
    name: 'Access-Control-Expose-Headers is a union, a * in it absorbing nothing',
    existing: { 'access-control-expose-headers': '*, X-Request-Id' },
    ours: { 'access-control-expose-headers': 'Content-Range, x-request-id, ETag' },
    expected: { 'access-control-expose-headers': '*, X-Request-Id, Content-Range, ETag' },
  },
  {
    name: 'fields that are not lists are ours to write',
    existing: { etag: '"a"', 'content-type': 'text/html' },
    ours: { etag: '"b"', 'content-type': 'text/plain' },
    expected: { etag: '"b"', 'content-type': 'text/plain' },
  },
];

describe('mergeResponseFields', () => {
  for (const row of ROWS) {
    it(row.name, () => {
      const merged = mergeResponseFields(row.ours, (name) => row.existing[name]);
      assert.deepEqual(merged, row.expected);
    });
  }

  it('returns the same object when nothing merges, so the writer copies nothing', () => {
    const ours = { vary: 'Accept-Encoding', 'content-length': '5' };
    assert.equal(
      mergeResponseFields(ours, () => undefined),
      ours,
    );
  });

  it('mergeList keys members by what keyOf returns', () => {
    assert.equal(
      mergeList('max-age=60', 'max-age=0, no-store', (d) => d.split('=')[0] as string),
      'max-age=60, no-store',
    );
  });
});
