// mergeResponseFields: one row per rule of how a list field range-serve writes meets the value another
// layer already put on the response (docs/behaviour.md "Composition with other middleware").
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { exposedFieldList, mergeList, mergeResponseFields } from '@range-serve/core/adapter';

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
    name: 'a response a CORS layer opened exposes the fields of ours it carries, in one list',
    existing: { 'access-control-allow-origin': 'https://app.example' },
    ours: { 'content-range': 'bytes 0-9/100', 'accept-ranges': 'bytes', etag: '"a"', 'content-length': '10' },
    expected: {
      'content-range': 'bytes 0-9/100',
      'accept-ranges': 'bytes',
      etag: '"a"',
      'content-length': '10',
      'access-control-expose-headers': 'Content-Range, Accept-Ranges, ETag',
    },
  },
  {
    name: 'without Access-Control-Allow-Origin nothing is exposed: range-serve never opens CORS itself',
    existing: { vary: 'Origin' },
    ours: { 'content-range': 'bytes 0-9/100', etag: '"a"' },
    expected: { 'content-range': 'bytes 0-9/100', etag: '"a"' },
  },
  {
    name: "the exposed fields are merged into the CORS layer's own list, none named twice",
    existing: { 'access-control-allow-origin': '*', 'access-control-expose-headers': 'X-Request-Id, etag' },
    ours: { etag: '"a"', 'last-modified': 'Tue, 01 Jan 2030 00:00:00 GMT', 'repr-digest': 'sha-256=:AA=:' },
    expected: {
      etag: '"a"',
      'last-modified': 'Tue, 01 Jan 2030 00:00:00 GMT',
      'repr-digest': 'sha-256=:AA=:',
      'access-control-expose-headers': 'X-Request-Id, etag, Last-Modified, Repr-Digest',
    },
  },
  {
    name: 'a 416 exposes its Content-Range, so a script learns the length',
    existing: { 'access-control-allow-origin': 'https://app.example' },
    ours: { 'content-range': 'bytes */100', 'content-length': '0' },
    expected: {
      'content-range': 'bytes */100',
      'content-length': '0',
      'access-control-expose-headers': 'Content-Range',
    },
  },
  {
    name: 'a 412 without fields of ours exposes nothing',
    existing: { 'access-control-allow-origin': 'https://app.example' },
    ours: { 'content-length': '0' },
    expected: { 'content-length': '0' },
  },
  {
    name: 'a field the handler set on the response (Content-Disposition) is exposed with ours',
    existing: { 'access-control-allow-origin': 'https://app.example', 'content-disposition': 'attachment' },
    ours: { 'accept-ranges': 'bytes' },
    expected: { 'accept-ranges': 'bytes', 'access-control-expose-headers': 'Accept-Ranges, Content-Disposition' },
  },
  {
    name: 'upload answers expose Location, the Upload- fields and every Tus- field',
    existing: { 'access-control-allow-origin': 'https://app.example' },
    ours: {
      location: '/files/abc',
      'upload-offset': '0',
      'upload-length': '5',
      'tus-resumable': '1.0.0',
      'tus-max-size': '1024',
      'upload-draft-interop-version': '6',
    },
    expected: {
      location: '/files/abc',
      'upload-offset': '0',
      'upload-length': '5',
      'tus-resumable': '1.0.0',
      'tus-max-size': '1024',
      'upload-draft-interop-version': '6',
      'access-control-expose-headers':
        'Location, Upload-Offset, Upload-Length, Tus-Resumable, Tus-Max-Size, Upload-Draft-Interop-Version',
    },
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

  it('exposedFieldList names the fields a script needs, spelled as sent, each once', () => {
    assert.equal(
      exposedFieldList(['content-type', 'ETag', 'etag', 'content-range', 'x-other', 'tus-version', 'tus-']),
      'ETag, Content-Range, Tus-Version',
    );
    assert.equal(exposedFieldList(['content-type', 'vary']), undefined);
  });

  it('mergeList keys members by what keyOf returns', () => {
    assert.equal(
      mergeList('max-age=60', 'max-age=0, no-store', (d) => d.split('=')[0] as string),
      'max-age=60, no-store',
    );
  });
});
