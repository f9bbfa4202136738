// The small functions behind docs/behaviour.md "Order of evaluation", "Validators" and "If-Range":
// one table per function, each row named for its outcome.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { evaluatePreconditions, formatHttpDate, type PreconditionOutcome, parseHttpDate } from '@range-serve/core';
// The single-header functions are internal to the core: tested from its source.
import {
  type EntityTagList,
  parseEntityTag,
  parseEntityTagList,
  strongMatch,
  weakMatch,
} from '../../packages/core/src/etag.ts';
import { toSeconds } from '../../packages/core/src/http-date.ts';
import {
  type HeaderValue,
  ifMatch,
  ifModifiedSince,
  ifNoneMatch,
  ifRange,
  ifUnmodifiedSince,
  type Validators,
} from '../../packages/core/src/preconditions.ts';
import { AFTER_HTTP, BEFORE_HTTP, LM, LM_HTTP, NOW } from './helpers.ts';

describe('parseHttpDate: all three HTTP-date formats, one-second precision', () => {
  const rows: { name: string; value: string | undefined; expected: number | undefined }[] = [
    { name: 'an IMF-fixdate is read', value: 'Sun, 06 Nov 1994 08:49:37 GMT', expected: 784111777000 },
    { name: 'an RFC 850 date is read', value: 'Sunday, 06-Nov-94 08:49:37 GMT', expected: 784111777000 },
    { name: 'an asctime date is read', value: 'Sun Nov  6 08:49:37 1994', expected: 784111777000 },
    { name: 'an asctime date with a two-digit day is read', value: 'Thu Nov 10 08:49:37 1994', expected: 784457377000 },
    { name: 'surrounding whitespace is ignored', value: '  Sun, 06 Nov 1994 08:49:37 GMT ', expected: 784111777000 },
    { name: 'a missing value is undefined', value: undefined, expected: undefined },
    { name: 'an empty value is invalid', value: '', expected: undefined },
    { name: 'a date in another zone is invalid', value: 'Sun, 06 Nov 1994 08:49:37 UTC', expected: undefined },
    { name: 'a numeric zone is invalid', value: 'Sun, 06 Nov 1994 08:49:37 +0000', expected: undefined },
    { name: 'an unknown month is invalid', value: 'Sun, 06 Foo 1994 08:49:37 GMT', expected: undefined },
    { name: 'an unknown day name is invalid', value: 'Xyz, 06 Nov 1994 08:49:37 GMT', expected: undefined },
    {
      name: 'a long day name in an IMF-fixdate is invalid',
      value: 'Sunday, 06 Nov 1994 08:49:37 GMT',
      expected: undefined,
    },
    { name: 'hour 24 is invalid', value: 'Sun, 06 Nov 1994 24:00:00 GMT', expected: undefined },
    { name: 'minute 60 is invalid', value: 'Sun, 06 Nov 1994 08:60:00 GMT', expected: undefined },
    { name: 'second 61 is invalid', value: 'Sun, 06 Nov 1994 08:49:61 GMT', expected: undefined },
    { name: 'day 31 of November is invalid', value: 'Wed, 31 Nov 1994 08:49:37 GMT', expected: undefined },
    { name: 'day 00 is invalid', value: 'Sun, 00 Nov 1994 08:49:37 GMT', expected: undefined },
    { name: 'a one-digit IMF day is invalid', value: 'Sun, 6 Nov 1994 08:49:37 GMT', expected: undefined },
    { name: 'an ISO 8601 date is invalid', value: '1994-11-06T08:49:37Z', expected: undefined },
    { name: 'a bare number is invalid', value: '784111777', expected: undefined },
    {
      name: 'two dates in one field are invalid',
      value: 'Sun, 06 Nov 1994 08:49:37 GMT, Sun, 06 Nov 1994 08:49:37 GMT',
      expected: undefined,
    },
    { name: 'February 29 of a leap year is read', value: 'Thu, 29 Feb 2024 00:00:00 GMT', expected: 1709164800000 },
    { name: 'February 29 of a common year is invalid', value: 'Wed, 29 Feb 2023 00:00:00 GMT', expected: undefined },
  ];
  for (const row of rows) {
    it(row.name, () => {
      assert.equal(parseHttpDate(row.value), row.expected);
    });
  }

  it('an RFC 850 two-digit year more than 50 years ahead is in the past century', () => {
    const now = Date.UTC(2024, 0, 1);
    assert.equal(parseHttpDate('Tuesday, 01-Jan-80 00:00:00 GMT', now), Date.UTC(1980, 0, 1));
    assert.equal(parseHttpDate('Monday, 01-Jan-70 00:00:00 GMT', now), Date.UTC(2070, 0, 1));
    assert.equal(parseHttpDate('Friday, 01-Jan-74 00:00:00 GMT', now), Date.UTC(2074, 0, 1));
    assert.equal(parseHttpDate('Saturday, 01-Jan-00 00:00:00 GMT', Date.UTC(2099, 0, 1)), Date.UTC(2100, 0, 1));
  });

  it('every parsed date is whole seconds', () => {
    const value = parseHttpDate(formatHttpDate(LM));
    assert.equal(value, Date.UTC(2024, 0, 10, 8, 30, 15));
    assert.equal(value, toSeconds(LM));
  });

  it('formatHttpDate writes an IMF-fixdate without the sub-second part', () => {
    assert.equal(formatHttpDate(LM), LM_HTTP);
    assert.equal(formatHttpDate(784111777999), 'Sun, 06 Nov 1994 08:49:37 GMT');
  });
});

describe('parseEntityTagList (quote-aware)', () => {
  const tag = (opaque: string, weak = false) => ({ weak, opaque });
  const rows: { name: string; value: HeaderValue; expected: EntityTagList | undefined }[] = [
    { name: 'an absent field is undefined', value: undefined, expected: undefined },
    { name: 'a star is any', value: '*', expected: { type: 'any' } },
    { name: 'a star with whitespace is any', value: ' * ', expected: { type: 'any' } },
    { name: 'one strong tag', value: '"abc"', expected: { type: 'tags', tags: [tag('"abc"')] } },
    { name: 'one weak tag', value: 'W/"abc"', expected: { type: 'tags', tags: [tag('"abc"', true)] } },
    {
      name: 'a comma inside quotes does not split the list',
      value: '"a,b", W/",c,"',
      expected: { type: 'tags', tags: [tag('"a,b"'), tag('",c,"', true)] },
    },
    {
      name: 'empty list elements and OWS are allowed',
      value: ' ,"a" ,\t, "b",',
      expected: { type: 'tags', tags: [tag('"a"'), tag('"b"')] },
    },
    {
      name: 'an array of field lines is one list',
      value: ['"a"', 'W/"b"'],
      expected: { type: 'tags', tags: [tag('"a"'), tag('"b"', true)] },
    },
    { name: 'an empty opaque tag is a tag', value: '""', expected: { type: 'tags', tags: [tag('""')] } },
    { name: 'an unquoted tag is invalid', value: 'abc', expected: { type: 'invalid' } },
    { name: 'an unterminated quote is invalid', value: '"abc', expected: { type: 'invalid' } },
    { name: 'a lowercase weak prefix is invalid', value: 'w/"abc"', expected: { type: 'invalid' } },
    { name: 'text after a tag is invalid', value: '"a" "b"', expected: { type: 'invalid' } },
    { name: 'a star inside a list is invalid', value: '"a", *', expected: { type: 'invalid' } },
    { name: 'an empty field is invalid', value: '', expected: { type: 'invalid' } },
    { name: 'a space inside the quotes is invalid', value: '"a b"', expected: { type: 'invalid' } },
  ];
  for (const row of rows) {
    it(row.name, () => {
      assert.deepEqual(parseEntityTagList(row.value), row.expected);
    });
  }

  it('strong comparison needs two strong tags with the same opaque part', () => {
    const s = parseEntityTag('"x"')!;
    const w = parseEntityTag('W/"x"')!;
    assert.equal(strongMatch(s, parseEntityTag('"x"')!), true);
    assert.equal(strongMatch(s, w), false);
    assert.equal(strongMatch(w, w), false);
    assert.equal(strongMatch(s, parseEntityTag('"y"')!), false);
  });

  it('weak comparison ignores the weakness flags', () => {
    const s = parseEntityTag('"x"')!;
    const w = parseEntityTag('W/"x"')!;
    assert.equal(weakMatch(s, w), true);
    assert.equal(weakMatch(w, w), true);
    assert.equal(weakMatch(w, parseEntityTag('W/"y"')!), false);
  });
});

describe('ifMatch: strong comparison, * true when a representation exists', () => {
  const rows: { name: string; header: HeaderValue; etag: string | undefined; expected: boolean }[] = [
    { name: 'an absent field holds', header: undefined, etag: '"v1"', expected: true },
    { name: 'the current strong ETag holds', header: '"v1"', etag: '"v1"', expected: true },
    { name: 'the current ETag within a list holds', header: '"a", "v1"', etag: '"v1"', expected: true },
    { name: 'another ETag fails', header: '"v2"', etag: '"v1"', expected: false },
    { name: 'a weak request tag never holds', header: 'W/"v1"', etag: '"v1"', expected: false },
    { name: 'a weak current ETag never holds', header: '"v1"', etag: 'W/"v1"', expected: false },
    { name: 'two weak tags never hold', header: 'W/"v1"', etag: 'W/"v1"', expected: false },
    { name: 'a star holds for an existing representation', header: '*', etag: '"v1"', expected: true },
    { name: 'a star holds even without an ETag', header: '*', etag: undefined, expected: true },
    { name: 'a tag fails when there is no current ETag', header: '"v1"', etag: undefined, expected: false },
    { name: 'an unreadable field fails', header: 'v1', etag: '"v1"', expected: false },
  ];
  for (const row of rows) {
    it(row.name, () => assert.equal(ifMatch(row.header, row.etag), row.expected));
  }
});

describe('ifNoneMatch: weak comparison, * matches any existing representation', () => {
  const rows: { name: string; header: HeaderValue; etag: string | undefined; expected: boolean }[] = [
    { name: 'an absent field holds', header: undefined, etag: '"v1"', expected: true },
    { name: 'the current ETag fails', header: '"v1"', etag: '"v1"', expected: false },
    { name: 'a weak form of the current ETag fails', header: 'W/"v1"', etag: '"v1"', expected: false },
    { name: 'the strong form of a weak current ETag fails', header: '"v1"', etag: 'W/"v1"', expected: false },
    { name: 'the current ETag within a list fails', header: '"a", W/"v1"', etag: '"v1"', expected: false },
    { name: 'other ETags hold', header: '"a", "b"', etag: '"v1"', expected: true },
    { name: 'a star fails for an existing representation', header: '*', etag: '"v1"', expected: false },
    { name: 'a star fails even without an ETag', header: '*', etag: undefined, expected: false },
    { name: 'a tag holds when there is no current ETag', header: '"v1"', etag: undefined, expected: true },
    { name: 'an unreadable field matches nothing and holds', header: 'v1', etag: '"v1"', expected: true },
  ];
  for (const row of rows) {
    it(row.name, () => assert.equal(ifNoneMatch(row.header, row.etag), row.expected));
  }
});

describe('ifUnmodifiedSince: newer -> false, invalid date ignored', () => {
  const rows: { name: string; header: HeaderValue; lastModified: number | undefined; expected: boolean }[] = [
    { name: 'an absent field holds', header: undefined, lastModified: LM, expected: true },
    { name: 'the same second holds despite the sub-second part', header: LM_HTTP, lastModified: LM, expected: true },
    { name: 'a later date holds', header: AFTER_HTTP, lastModified: LM, expected: true },
    { name: 'an earlier date fails', header: BEFORE_HTTP, lastModified: LM, expected: false },
    { name: 'an invalid date is ignored', header: 'yesterday', lastModified: LM, expected: true },
    { name: 'two field lines are ignored', header: [BEFORE_HTTP, BEFORE_HTTP], lastModified: LM, expected: true },
    { name: 'no modification date holds', header: BEFORE_HTTP, lastModified: undefined, expected: true },
  ];
  for (const row of rows) {
    it(row.name, () => assert.equal(ifUnmodifiedSince(row.header, row.lastModified), row.expected));
  }
});

describe('ifModifiedSince: invalid or several dates ignored, future date is not modified', () => {
  const rows: { name: string; header: HeaderValue; lastModified: number | undefined; expected: boolean }[] = [
    { name: 'an absent field holds', header: undefined, lastModified: LM, expected: true },
    { name: 'the same second is not modified', header: LM_HTTP, lastModified: LM, expected: false },
    { name: 'an earlier date is modified', header: BEFORE_HTTP, lastModified: LM, expected: true },
    { name: 'a later date is not modified', header: AFTER_HTTP, lastModified: LM, expected: false },
    {
      name: 'a date in the future is still not modified',
      header: 'Fri, 01 Jan 2100 00:00:00 GMT',
      lastModified: LM,
      expected: false,
    },
    { name: 'an invalid date is ignored', header: 'not a date', lastModified: LM, expected: true },
    { name: 'two field lines are ignored', header: [LM_HTTP, LM_HTTP], lastModified: LM, expected: true },
    { name: 'two dates in one line are ignored', header: `${LM_HTTP}, ${LM_HTTP}`, lastModified: LM, expected: true },
    { name: 'an RFC 850 date is read', header: 'Wednesday, 10-Jan-24 08:30:15 GMT', lastModified: LM, expected: false },
    { name: 'an asctime date is read', header: 'Wed Jan 10 08:30:15 2024', lastModified: LM, expected: false },
    { name: 'no modification date holds', header: LM_HTTP, lastModified: undefined, expected: true },
  ];
  for (const row of rows) {
    it(row.name, () => assert.equal(ifModifiedSince(row.header, row.lastModified), row.expected));
  }
});

describe('ifRange: strong comparison, exact dates, strong Last-Modified only', () => {
  const strong: Validators = { etag: '"v1"', lastModified: LM };
  const rows: { name: string; header: HeaderValue; validators: Validators; now?: number; expected: boolean }[] = [
    { name: 'an absent field lets the range apply', header: undefined, validators: strong, expected: true },
    { name: 'the current strong ETag lets the range apply', header: '"v1"', validators: strong, expected: true },
    { name: 'another ETag sends the whole body', header: '"v2"', validators: strong, expected: false },
    { name: 'a weak ETag sends the whole body', header: 'W/"v1"', validators: strong, expected: false },
    {
      name: 'a weak current ETag sends the whole body',
      header: '"v1"',
      validators: { etag: 'W/"v1"', lastModified: LM },
      expected: false,
    },
    {
      name: 'an ETag without a current ETag sends the whole body',
      header: '"v1"',
      validators: { lastModified: LM },
      expected: false,
    },
    { name: 'a list of ETags sends the whole body', header: '"v1", "v2"', validators: strong, expected: false },
    { name: 'the exact Last-Modified lets the range apply', header: LM_HTTP, validators: strong, expected: true },
    {
      name: 'the exact Last-Modified in asctime form lets the range apply',
      header: 'Wed Jan 10 08:30:15 2024',
      validators: strong,
      expected: true,
    },
    {
      name: 'the exact Last-Modified in RFC 850 form lets the range apply',
      header: 'Wednesday, 10-Jan-24 08:30:15 GMT',
      validators: strong,
      expected: true,
    },
    { name: 'a later date sends the whole body', header: AFTER_HTTP, validators: strong, expected: false },
    { name: 'an earlier date sends the whole body', header: BEFORE_HTTP, validators: strong, expected: false },
    {
      name: 'a date without a current Last-Modified sends the whole body',
      header: LM_HTTP,
      validators: { etag: '"v1"' },
      expected: false,
    },
    {
      name: 'a Last-Modified in the same second as Date is weak and sends the whole body',
      header: LM_HTTP,
      validators: strong,
      now: LM + 500,
      expected: false,
    },
    {
      name: 'a Last-Modified one second before Date is strong',
      header: LM_HTTP,
      validators: strong,
      now: toSeconds(LM) + 1000,
      expected: true,
    },
    {
      name: 'a Last-Modified after Date is weak and sends the whole body',
      header: LM_HTTP,
      validators: strong,
      now: LM - 5000,
      expected: false,
    },
    { name: 'junk sends the whole body', header: 'whenever', validators: strong, expected: false },
    { name: 'an empty value sends the whole body', header: '', validators: strong, expected: false },
    { name: 'two field lines send the whole body', header: ['"v1"', '"v1"'], validators: strong, expected: false },
  ];
  for (const row of rows) {
    it(row.name, () => assert.equal(ifRange(row.header, row.validators, row.now ?? NOW), row.expected));
  }
});

describe('evaluatePreconditions: order of evaluation (RFC 9110 13.2.2)', () => {
  const v: Validators = { etag: '"v1"', lastModified: LM };
  interface Row {
    name: string;
    headers: Record<string, HeaderValue>;
    get: PreconditionOutcome;
    other: PreconditionOutcome;
  }
  const rows: Row[] = [
    { name: 'no conditions proceed', headers: {}, get: 'proceed', other: 'proceed' },
    {
      name: 'a false If-Match fails',
      headers: { 'if-match': '"v2"' },
      get: 'precondition-failed',
      other: 'precondition-failed',
    },
    { name: 'a true If-Match proceeds', headers: { 'if-match': '"v1"' }, get: 'proceed', other: 'proceed' },
    {
      name: 'If-Unmodified-Since with a newer representation fails',
      headers: { 'if-unmodified-since': BEFORE_HTTP },
      get: 'precondition-failed',
      other: 'precondition-failed',
    },
    {
      name: 'If-Unmodified-Since is not evaluated when If-Match is present',
      headers: { 'if-match': '"v1"', 'if-unmodified-since': BEFORE_HTTP },
      get: 'proceed',
      other: 'proceed',
    },
    {
      name: 'If-Unmodified-Since with an invalid date is ignored',
      headers: { 'if-unmodified-since': 'garbage' },
      get: 'proceed',
      other: 'proceed',
    },
    {
      name: 'a false If-Match wins over a false If-None-Match',
      headers: { 'if-match': '"v2"', 'if-none-match': '"v1"' },
      get: 'precondition-failed',
      other: 'precondition-failed',
    },
    {
      name: 'a false If-Unmodified-Since wins over a false If-Modified-Since',
      headers: { 'if-unmodified-since': BEFORE_HTTP, 'if-modified-since': AFTER_HTTP },
      get: 'precondition-failed',
      other: 'precondition-failed',
    },
    {
      name: 'a matching If-None-Match is 304 for GET and HEAD, 412 otherwise',
      headers: { 'if-none-match': '"v1"' },
      get: 'not-modified',
      other: 'precondition-failed',
    },
    {
      name: 'If-None-Match: * is 304 for GET and HEAD, 412 otherwise',
      headers: { 'if-none-match': '*' },
      get: 'not-modified',
      other: 'precondition-failed',
    },
    {
      name: 'a non-matching If-None-Match proceeds',
      headers: { 'if-none-match': '"v2"' },
      get: 'proceed',
      other: 'proceed',
    },
    {
      name: 'If-Modified-Since is not evaluated when If-None-Match is present',
      headers: { 'if-none-match': '"v2"', 'if-modified-since': AFTER_HTTP },
      get: 'proceed',
      other: 'proceed',
    },
    {
      name: 'If-Modified-Since not modified is 304 for GET and HEAD and ignored otherwise',
      headers: { 'if-modified-since': LM_HTTP },
      get: 'not-modified',
      other: 'proceed',
    },
    {
      name: 'If-Modified-Since modified proceeds',
      headers: { 'if-modified-since': BEFORE_HTTP },
      get: 'proceed',
      other: 'proceed',
    },
    {
      name: 'a true If-Match then a matching If-None-Match is 304 for GET',
      headers: { 'if-match': '"v1"', 'if-none-match': 'W/"v1"' },
      get: 'not-modified',
      other: 'precondition-failed',
    },
    {
      name: 'Cache-Control: no-cache does not switch preconditions off',
      headers: { 'cache-control': 'no-cache', pragma: 'no-cache', 'if-none-match': '"v1"' },
      get: 'not-modified',
      other: 'precondition-failed',
    },
  ];
  for (const row of rows) {
    it(`${row.name} (GET, HEAD)`, () => {
      assert.equal(evaluatePreconditions('GET', row.headers, v), row.get);
      assert.equal(evaluatePreconditions('HEAD', row.headers, v), row.get);
    });
    it(`${row.name} (POST, PUT, DELETE)`, () => {
      for (const method of ['POST', 'PUT', 'DELETE']) {
        assert.equal(evaluatePreconditions(method, row.headers, v), row.other, method);
      }
    });
  }
});
