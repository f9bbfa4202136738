// planResponse against every row of docs/behaviour.md: each case names its outcome, runs for GET and
// HEAD where both apply (HEAD: the same status and headers, no body), and asserts the exact status,
// kind and header object.
import assert from 'node:assert/strict';
import type { IncomingHttpHeaders } from 'node:http';
import { describe, it } from 'node:test';
import compressible from 'compressible';
import { type ByteRange, type PlanOptions, planResponse, type ResponsePlan } from '@range-serve/core';
import type { RepresentationInfo, ResponseHeaders as PlanHeaders } from '@range-serve/core/adapter';
import { multipartLayout } from '../../packages/core/src/multipart.ts';
import { NOT_MODIFIED_HEADERS } from '../../packages/core/src/plan.ts';
import { DEFAULT_MAX_RANGES } from '../../packages/core/src/range.ts';
import { AFTER_HTTP, BEFORE_HTTP, LM, LM_HTTP, NOW } from './helpers.ts';

const TYPE = 'text/plain; charset=utf-8';

const EXTRA = {
  'cache-control': 'max-age=60',
  expires: 'Mon, 15 Jan 2024 12:01:00 GMT',
  vary: 'Accept-Encoding',
  'content-location': '/doc.txt',
  'content-language': 'en',
  'content-disposition': 'inline',
};

/** A 10-byte representation with every validator and caching field a 200 can carry. */
const REP: RepresentationInfo = { size: 10, etag: '"v1"', lastModified: LM, contentType: TYPE, headers: EXTRA };

/** The representation header fields of a 200 for `rep` (without the length fields). */
function baseHeaders(rep: RepresentationInfo, acceptRanges = 'bytes'): PlanHeaders {
  const h: PlanHeaders = { 'accept-ranges': acceptRanges };
  if (rep === REP) {
    Object.assign(h, { 'content-type': TYPE, etag: '"v1"', 'last-modified': LM_HTTP }, EXTRA);
  } else {
    if (rep.contentType !== undefined) h['content-type'] = rep.contentType;
    if (rep.etag !== undefined) h.etag = rep.etag;
    if (rep.lastModified !== undefined) h['last-modified'] = new Date(rep.lastModified).toUTCString();
    Object.assign(h, rep.headers ?? {});
    // A type a compressing layer would encode varies by Accept-Encoding on every answer.
    if (rep.contentType !== undefined && compressible(rep.contentType) === true && h.vary === undefined) {
      h.vary = 'Accept-Encoding';
    }
  }
  return h;
}

type Expected =
  | { kind: 'full'; headers: PlanHeaders; range: ByteRange | null }
  | { kind: 'partial'; headers: PlanHeaders; range: ByteRange }
  | { kind: 'multipart'; headers: PlanHeaders; ranges: ByteRange[]; size: number; partType: string | undefined }
  | { kind: 'not-modified'; headers: PlanHeaders }
  | { kind: 'precondition-failed'; headers: PlanHeaders }
  | { kind: 'range-not-satisfiable'; headers: PlanHeaders };

const STATUS = {
  full: 200,
  partial: 206,
  multipart: 206,
  'not-modified': 304,
  'precondition-failed': 412,
  'range-not-satisfiable': 416,
} as const;

function full(rep: RepresentationInfo = REP, acceptRanges = 'bytes'): Expected {
  return {
    kind: 'full',
    headers: { ...baseHeaders(rep, acceptRanges), 'content-length': String(rep.size) },
    range: rep.size === 0 ? null : { start: 0, end: rep.size - 1 },
  };
}

/** A 206 carries no-transform (RFC 9111 §5.2.2.6), so no layer re-encodes bytes its Content-Range describes. */
function partialHeaders(rep: RepresentationInfo): PlanHeaders {
  const h = baseHeaders(rep);
  h['cache-control'] = h['cache-control'] === undefined ? 'no-transform' : `${h['cache-control']}, no-transform`;
  return h;
}

function partial(start: number, end: number, rep: RepresentationInfo = REP): Expected {
  return {
    kind: 'partial',
    headers: {
      ...partialHeaders(rep),
      'content-range': `bytes ${start}-${end}/${rep.size}`,
      'content-length': String(end - start + 1),
    },
    range: { start, end },
  };
}

/** A multipart expectation; content-type and content-length are checked against the plan's boundary. */
function multipart(spans: [number, number][], rep: RepresentationInfo = REP): Expected {
  const headers = partialHeaders(rep);
  delete headers['content-type'];
  return {
    kind: 'multipart',
    headers,
    ranges: spans.map(([start, end]) => ({ start, end })),
    size: rep.size,
    partType: rep.contentType,
  };
}

const NOT_MODIFIED: Expected = {
  kind: 'not-modified',
  headers: {
    etag: '"v1"',
    'last-modified': LM_HTTP,
    'cache-control': 'max-age=60',
    expires: 'Mon, 15 Jan 2024 12:01:00 GMT',
    vary: 'Accept-Encoding',
    'content-location': '/doc.txt',
  },
};
/** A 412 of REP: no representation fields, but the Vary its 200 would carry (the answer depends on those fields too). */
const FAILED: Expected = { kind: 'precondition-failed', headers: { 'content-length': '0', vary: 'Accept-Encoding' } };
/** A 416; `typed` when the representation's type is one a compressing layer would encode (then it varies). */
function unsatisfiable(size = 10, typed = true): Expected {
  const headers: PlanHeaders = { 'content-range': `bytes */${size}`, 'content-length': '0' };
  if (typed) headers.vary = 'Accept-Encoding';
  return { kind: 'range-not-satisfiable', headers };
}

/** Asserts a plan against its expectation for `method`: exact status, kind, headers, spans, framing. */
function assertPlan(plan: ResponsePlan, expected: Expected, method: string): void {
  assert.equal(plan.kind, expected.kind);
  assert.equal(plan.status, STATUS[expected.kind]);
  const bodyKind = expected.kind === 'full' || expected.kind === 'partial' || expected.kind === 'multipart';
  assert.equal(
    plan.body.type !== 'none',
    bodyKind && method !== 'HEAD' && plan.headers['content-length'] !== '0',
    'body',
  );
  if (expected.kind === 'multipart') {
    assert.equal(plan.kind, 'multipart');
    if (plan.kind !== 'multipart') return;
    const b = plan.boundary;
    assert.match(b, /^[0-9A-Za-z'()+_,./:=?-]{1,70}$/, 'an RFC 2046 boundary that needs no quotes');
    const typeLine = expected.partType === undefined ? '' : `Content-Type: ${expected.partType}\r\n`;
    const preambles = expected.ranges.map(
      (r, i) =>
        `${i === 0 ? '' : '\r\n'}--${b}\r\n${typeLine}Content-Range: bytes ${r.start}-${r.end}/${expected.size}\r\n\r\n`,
    );
    assert.deepEqual(
      plan.parts,
      expected.ranges.map((range, i) => ({ preamble: preambles[i], range })),
    );
    assert.equal(plan.epilogue, `\r\n--${b}--\r\n`);
    let length = Buffer.byteLength(plan.epilogue, 'latin1');
    for (const [i, r] of expected.ranges.entries()) {
      length += Buffer.byteLength(preambles[i] as string, 'latin1') + r.end - r.start + 1;
    }
    assert.deepEqual(plan.headers, {
      ...expected.headers,
      'content-type': `multipart/byteranges; boundary=${b}`,
      'content-length': String(length),
    });
    assert.equal('content-range' in plan.headers, false, 'no top-level Content-Range');
    return;
  }
  assert.deepEqual(plan.headers, expected.headers);
  if (expected.kind === 'full' || expected.kind === 'partial') {
    assert.ok(plan.kind === 'full' || plan.kind === 'partial');
    assert.deepEqual(plan.range, expected.range);
  }
}

interface Row {
  name: string;
  headers: IncomingHttpHeaders;
  expected: Expected;
  rep?: RepresentationInfo;
  options?: PlanOptions;
  /** Methods to run; GET and HEAD unless given. */
  methods?: string[];
}

function runRows(rows: Row[]): void {
  for (const row of rows) {
    for (const method of row.methods ?? ['GET', 'HEAD']) {
      it(`${row.name} (${method})`, () => {
        const plan = planResponse({ method, headers: row.headers }, row.rep ?? REP, { now: NOW, ...row.options });
        assertPlan(plan, row.expected, method);
      });
    }
  }
}

describe('planResponse: Order of evaluation (RFC 9110 13.2.2)', () => {
  runRows([
    // Row 1: If-Match, strong comparison, * true; else If-Unmodified-Since.
    { name: 'If-Match with the current ETag sends the whole body', headers: { 'if-match': '"v1"' }, expected: full() },
    { name: 'If-Match with another ETag is 412', headers: { 'if-match': '"v2"' }, expected: FAILED },
    {
      name: 'If-Match with a weak ETag is 412',
      headers: { 'if-match': 'W/"v1"' },
      expected: FAILED,
    },
    {
      name: 'If-Match against a weak current ETag is 412',
      headers: { 'if-match': 'W/"w"' },
      rep: { ...REP, etag: 'W/"w"' },
      expected: FAILED,
    },
    { name: 'If-Match: * sends the whole body', headers: { 'if-match': '*' }, expected: full() },
    {
      name: 'If-Match on a POST with another ETag is 412',
      headers: { 'if-match': '"v2"' },
      expected: FAILED,
      methods: ['POST', 'PUT', 'DELETE'],
    },
    {
      name: 'If-Unmodified-Since before Last-Modified is 412',
      headers: { 'if-unmodified-since': BEFORE_HTTP },
      expected: FAILED,
    },
    {
      name: 'If-Unmodified-Since before Last-Modified on a PUT is 412',
      headers: { 'if-unmodified-since': BEFORE_HTTP },
      expected: FAILED,
      methods: ['PUT'],
    },
    {
      name: 'If-Unmodified-Since in the same second as Last-Modified sends the whole body',
      headers: { 'if-unmodified-since': LM_HTTP },
      expected: full(),
    },
    {
      name: 'If-Unmodified-Since with an invalid date is ignored',
      headers: { 'if-unmodified-since': 'last tuesday' },
      expected: full(),
    },
    {
      name: 'If-Unmodified-Since is not evaluated when If-Match is present',
      headers: { 'if-match': '"v1"', 'if-unmodified-since': BEFORE_HTTP },
      expected: full(),
    },
    // Row 2: If-None-Match, weak comparison; else If-Modified-Since (GET/HEAD only).
    {
      name: 'If-None-Match with the current ETag is 304',
      headers: { 'if-none-match': '"v1"' },
      expected: NOT_MODIFIED,
    },
    {
      name: 'If-None-Match with the weak form of the current ETag (an encoded copy) is a 304 naming that form',
      headers: { 'if-none-match': '"x", W/"v1"' },
      expected: { kind: 'not-modified', headers: { ...NOT_MODIFIED.headers, etag: 'W/"v1"' } },
    },
    {
      name: 'If-None-Match with the weak form of the current ETag adds Accept-Encoding to Vary',
      headers: { 'if-none-match': 'W/"v1"' },
      rep: { ...REP, headers: { ...EXTRA, vary: 'Origin' } },
      expected: {
        kind: 'not-modified',
        headers: { ...NOT_MODIFIED.headers, etag: 'W/"v1"', vary: 'Origin, Accept-Encoding' },
      },
    },
    {
      name: 'If-None-Match with both forms of the current ETag is a 304 with the strong one',
      headers: { 'if-none-match': 'W/"v1", "v1"' },
      expected: NOT_MODIFIED,
    },
    { name: 'If-None-Match: * is 304', headers: { 'if-none-match': '*' }, expected: NOT_MODIFIED },
    {
      name: 'If-None-Match with the current ETag on other methods is 412',
      headers: { 'if-none-match': '"v1"' },
      expected: FAILED,
      methods: ['POST', 'PUT', 'DELETE'],
    },
    {
      name: 'If-None-Match with other ETags sends the whole body',
      headers: { 'if-none-match': '"v2", W/"v3"' },
      expected: full(),
    },
    {
      name: 'If-Modified-Since at Last-Modified is 304 despite the sub-second part',
      headers: { 'if-modified-since': LM_HTTP },
      expected: NOT_MODIFIED,
    },
    {
      name: 'If-Modified-Since in the future is 304',
      headers: { 'if-modified-since': 'Fri, 01 Jan 2100 00:00:00 GMT' },
      expected: NOT_MODIFIED,
    },
    {
      name: 'If-Modified-Since before Last-Modified sends the whole body',
      headers: { 'if-modified-since': BEFORE_HTTP },
      expected: full(),
    },
    {
      name: 'If-Modified-Since with an invalid date is ignored',
      headers: { 'if-modified-since': 'Sun, 32 Jan 2024 00:00:00 GMT' },
      expected: full(),
    },
    {
      name: 'If-Modified-Since with two dates is ignored',
      headers: { 'if-modified-since': `${AFTER_HTTP}, ${AFTER_HTTP}` },
      expected: full(),
    },
    {
      name: 'If-Modified-Since is not evaluated when If-None-Match is present',
      headers: { 'if-none-match': '"v2"', 'if-modified-since': AFTER_HTTP },
      expected: full(),
    },
    {
      name: 'If-Modified-Since on a POST is ignored',
      headers: { 'if-modified-since': AFTER_HTTP },
      expected: full(),
      methods: ['POST'],
    },
    {
      name: 'If-Match failing wins over If-None-Match matching: 412',
      headers: { 'if-match': '"v2"', 'if-none-match': '"v1"' },
      expected: FAILED,
    },
    // Row 3: Range only after 1 and 2 pass, only for GET (and HEAD); If-Range only with Range.
    {
      name: 'a matching If-None-Match with a Range is 304',
      headers: { 'if-none-match': '"v1"', range: 'bytes=0-1' },
      expected: NOT_MODIFIED,
    },
    {
      name: 'a failing If-Match with a Range is 412',
      headers: { 'if-match': '"nope"', range: 'bytes=0-1' },
      expected: FAILED,
    },
    {
      name: 'a failing If-Unmodified-Since with an unsatisfiable Range is 412',
      headers: { 'if-unmodified-since': BEFORE_HTTP, range: 'bytes=50-' },
      expected: FAILED,
    },
    {
      name: 'passing preconditions then a Range is 206',
      headers: { 'if-match': '"v1"', 'if-none-match': '"v0"', range: 'bytes=0-1' },
      expected: partial(0, 1),
    },
    {
      name: 'a Range on other methods is ignored',
      headers: { range: 'bytes=0-1' },
      expected: full(),
      methods: ['POST', 'PUT', 'DELETE', 'OPTIONS'],
    },
    {
      name: 'an unsatisfiable Range on other methods is ignored',
      headers: { range: 'bytes=50-' },
      expected: full(),
      methods: ['POST'],
    },
    { name: 'If-Range without a Range sends the whole body', headers: { 'if-range': '"v1"' }, expected: full() },
    {
      name: 'a false If-Range without a Range sends the whole body',
      headers: { 'if-range': '"v0"' },
      expected: full(),
    },
    // Row 4: Cache-Control in the request does not switch preconditions off.
    {
      name: 'Cache-Control: no-cache still gets 304',
      headers: { 'cache-control': 'no-cache', pragma: 'no-cache', 'if-none-match': '"v1"' },
      expected: NOT_MODIFIED,
    },
    {
      name: 'Cache-Control: max-age=0 still gets 412',
      headers: { 'cache-control': 'max-age=0', 'if-match': '"v0"' },
      expected: FAILED,
    },
  ]);
});

describe('planResponse: Validators and If-Range (RFC 9110 8.8, 13.1.5)', () => {
  runRows([
    {
      name: 'If-Range with the current strong ETag sends the range',
      headers: { range: 'bytes=2-4', 'if-range': '"v1"' },
      expected: partial(2, 4),
    },
    {
      name: 'If-Range with a weak ETag sends the whole body',
      headers: { range: 'bytes=2-4', 'if-range': 'W/"v1"' },
      expected: full(),
    },
    {
      name: 'If-Range against a weak current ETag sends the whole body',
      headers: { range: 'bytes=2-4', 'if-range': '"w"' },
      rep: { ...REP, etag: 'W/"w"' },
      expected: full({ ...REP, etag: 'W/"w"' }),
    },
    {
      name: 'If-Range with another ETag sends the whole body',
      headers: { range: 'bytes=2-4', 'if-range': '"v2"' },
      expected: full(),
    },
    {
      name: 'If-Range with an ETag and no current ETag sends the whole body',
      headers: { range: 'bytes=2-4', 'if-range': '"v1"' },
      rep: { ...REP, etag: undefined },
      expected: full({ ...REP, etag: undefined }),
    },
    {
      name: 'If-Range with the exact Last-Modified sends the range',
      headers: { range: 'bytes=2-4', 'if-range': LM_HTTP },
      expected: partial(2, 4),
    },
    {
      name: 'If-Range with the exact Last-Modified as asctime sends the range',
      headers: { range: 'bytes=2-4', 'if-range': 'Wed Jan 10 08:30:15 2024' },
      expected: partial(2, 4),
    },
    {
      name: 'If-Range with the exact Last-Modified as RFC 850 sends the range',
      headers: { range: 'bytes=2-4', 'if-range': 'Wednesday, 10-Jan-24 08:30:15 GMT' },
      expected: partial(2, 4),
    },
    {
      name: 'If-Range with a later date sends the whole body',
      headers: { range: 'bytes=2-4', 'if-range': AFTER_HTTP },
      expected: full(),
    },
    {
      name: 'If-Range with an earlier date sends the whole body',
      headers: { range: 'bytes=2-4', 'if-range': BEFORE_HTTP },
      expected: full(),
    },
    {
      name: 'If-Range with a date and no Last-Modified sends the whole body',
      headers: { range: 'bytes=2-4', 'if-range': LM_HTTP },
      rep: { ...REP, lastModified: undefined },
      expected: full({ ...REP, lastModified: undefined }),
    },
    {
      name: 'If-Range with a Last-Modified less than a second before Date sends the whole body',
      headers: { range: 'bytes=2-4', 'if-range': LM_HTTP },
      options: { now: LM + 700 },
      expected: full(),
    },
    {
      name: 'If-Range with a Last-Modified one second before Date sends the range',
      headers: { range: 'bytes=2-4', 'if-range': LM_HTTP },
      options: { now: Date.UTC(2024, 0, 10, 8, 30, 16) },
      expected: partial(2, 4),
    },
    {
      name: 'If-Range with junk sends the whole body',
      headers: { range: 'bytes=2-4', 'if-range': 'tomorrow' },
      expected: full(),
    },
    {
      name: 'a false If-Range with an unsatisfiable Range sends the whole body',
      headers: { range: 'bytes=50-', 'if-range': '"v0"' },
      expected: full(),
    },
    {
      name: 'a true If-Range with an unsatisfiable Range is 416',
      headers: { range: 'bytes=50-', 'if-range': '"v1"' },
      expected: unsatisfiable(),
    },
    {
      name: 'a false If-Range with several ranges sends the whole body',
      headers: { range: 'bytes=0-1,4-5', 'if-range': 'W/"v1"' },
      expected: full(),
    },
  ]);
});

const R20: RepresentationInfo = { size: 20, etag: '"t"', contentType: 'application/octet-stream' };
const UNTYPED: RepresentationInfo = { size: 10, etag: '"u"' };

describe('planResponse: Range (RFC 9110 14.1, 14.2)', () => {
  runRows([
    { name: 'a unit other than bytes sends the whole body', headers: { range: 'items=0-1' }, expected: full() },
    { name: 'an upper-case unit is bytes', headers: { range: 'Bytes=0-1' }, expected: partial(0, 1) },
    { name: 'bytes=abc sends the whole body', headers: { range: 'bytes=abc' }, expected: full() },
    { name: 'bytes=1-2-3 sends the whole body', headers: { range: 'bytes=1-2-3' }, expected: full() },
    { name: 'bytes= sends the whole body', headers: { range: 'bytes=' }, expected: full() },
    { name: 'a Range without = sends the whole body', headers: { range: 'bytes 0-1' }, expected: full() },
    {
      name: 'a syntax error after a good spec sends the whole body',
      headers: { range: 'bytes=0-1,x' },
      expected: full(),
    },
    { name: 'a negative first-pos sends the whole body', headers: { range: 'bytes=--1' }, expected: full() },
    { name: 'bytes=5-1 sends the whole body', headers: { range: 'bytes=5-1' }, expected: full() },
    {
      name: 'a reversed spec among good ones sends the whole body',
      headers: { range: 'bytes=0-1,5-1' },
      expected: full(),
    },
    {
      name: 'a suffix longer than the body sends it all as 206',
      headers: { range: 'bytes=-50' },
      expected: partial(0, 9),
    },
    {
      name: 'a suffix of the exact length sends it all as 206',
      headers: { range: 'bytes=-10' },
      expected: partial(0, 9),
    },
    { name: 'a suffix sends the last bytes', headers: { range: 'bytes=-3' }, expected: partial(7, 9) },
    { name: 'a last-pos past the end is clamped', headers: { range: 'bytes=5-500' }, expected: partial(5, 9) },
    { name: 'an open range runs to the end', headers: { range: 'bytes=4-' }, expected: partial(4, 9) },
    { name: 'the last byte alone is a 206', headers: { range: 'bytes=9-9' }, expected: partial(9, 9) },
    { name: 'bytes=-0 is 416', headers: { range: 'bytes=-0' }, expected: unsatisfiable() },
    { name: 'a first-pos at the length is 416', headers: { range: 'bytes=10-' }, expected: unsatisfiable() },
    {
      name: 'every first-pos past the length is 416',
      headers: { range: 'bytes=10-20, 15-,30-40' },
      expected: unsatisfiable(),
    },
    { name: 'bytes=-0 among past-the-end specs is 416', headers: { range: 'bytes=-0,12-' }, expected: unsatisfiable() },
    {
      name: 'unsatisfiable specs are dropped and one left is a plain 206',
      headers: { range: 'bytes=20-30,0-1,-0' },
      expected: partial(0, 1),
    },
    {
      name: 'unsatisfiable specs are dropped and two left are multipart',
      headers: { range: 'bytes=0-2,20-30,5-6' },
      expected: multipart([
        [0, 2],
        [5, 6],
      ]),
    },
    { name: 'overlapping specs merge into one 206', headers: { range: 'bytes=0-5,3-8' }, expected: partial(0, 8) },
    {
      name: 'adjacent specs merge into one 206',
      headers: { range: 'bytes=0-4,5-9' },
      rep: R20,
      expected: partial(0, 9, R20),
    },
    {
      name: 'a contained spec merges into its container',
      headers: { range: 'bytes=2-3,0-9' },
      expected: partial(0, 9),
    },
    {
      name: 'merged groups keep the order of their first spec',
      headers: { range: 'bytes=8-9,0-1,2-3' },
      expected: multipart([
        [8, 9],
        [0, 3],
      ]),
    },
    {
      name: 'two ranges are multipart in request order',
      headers: { range: 'bytes=15-16,1-2' },
      rep: R20,
      expected: multipart(
        [
          [15, 16],
          [1, 2],
        ],
        R20,
      ),
    },
    {
      name: 'multipart parts carry no Content-Type when the representation has none',
      headers: { range: 'bytes=0-0,-1' },
      rep: UNTYPED,
      expected: multipart(
        [
          [0, 0],
          [9, 9],
        ],
        UNTYPED,
      ),
    },
    {
      name: 'a spec list with empty elements and OWS is multipart',
      headers: { range: 'bytes= 0-0 ,, \t2-2,' },
      expected: multipart([
        [0, 0],
        [2, 2],
      ]),
    },
    {
      name: 'more ranges than maxRanges after merging sends the whole body',
      headers: { range: 'bytes=0-0,2-2,4-4' },
      options: { maxRanges: 2 },
      expected: full(),
    },
    {
      name: 'exactly maxRanges after merging is multipart',
      headers: { range: 'bytes=0-0,1-1,4-4,6-6' },
      options: { maxRanges: 3 },
      expected: multipart([
        [0, 1],
        [4, 4],
        [6, 6],
      ]),
    },
    {
      name: 'a zero-length representation sends the whole (empty) body',
      headers: { range: 'bytes=0-1' },
      rep: { ...REP, size: 0 },
      expected: full({ ...REP, size: 0 }),
    },
    {
      name: 'a zero-length representation with bytes=-0 sends the whole (empty) body',
      headers: { range: 'bytes=-0' },
      rep: { ...REP, size: 0 },
      expected: full({ ...REP, size: 0 }),
    },
    {
      name: 'a zero-length representation with a suffix sends the whole (empty) body',
      headers: { range: 'bytes=-5' },
      rep: { ...REP, size: 0 },
      expected: full({ ...REP, size: 0 }),
    },
    {
      name: 'a last-pos beyond MAX_SAFE_INTEGER is clamped, not rounded',
      headers: { range: 'bytes=3-9007199254740993' },
      expected: partial(3, 9),
    },
    {
      name: 'a first-pos beyond MAX_SAFE_INTEGER is past the end: 416',
      headers: { range: 'bytes=9007199254740993-9007199254740995' },
      expected: unsatisfiable(),
    },
    {
      name: 'a suffix beyond MAX_SAFE_INTEGER is the whole representation',
      headers: { range: 'bytes=-123456789012345678901234567890' },
      expected: partial(0, 9),
    },
    {
      name: 'a first-pos beyond MAX_SAFE_INTEGER on a huge representation is 416, never rounded down',
      headers: { range: 'bytes=9007199254740992-' },
      rep: { ...REP, size: Number.MAX_SAFE_INTEGER },
      expected: unsatisfiable(Number.MAX_SAFE_INTEGER),
    },
    {
      name: 'the last safe byte of a huge representation is a 206',
      headers: { range: 'bytes=9007199254740990-' },
      rep: { ...REP, size: Number.MAX_SAFE_INTEGER },
      expected: partial(9007199254740990, 9007199254740990, { ...REP, size: Number.MAX_SAFE_INTEGER }),
    },
    {
      name: 'leading zeros are read as decimal',
      headers: { range: 'bytes=0002-0004' },
      expected: partial(2, 4),
    },
    {
      name: 'acceptRanges false sends Accept-Ranges: none and ignores the Range',
      headers: { range: 'bytes=0-1' },
      options: { acceptRanges: false },
      expected: full(REP, 'none'),
    },
    {
      name: 'acceptRanges false ignores an unsatisfiable Range',
      headers: { range: 'bytes=99-' },
      options: { acceptRanges: false },
      expected: full(REP, 'none'),
    },
    {
      name: 'a stream with descending ranges sends the whole body',
      headers: { range: 'bytes=5-6,0-1' },
      rep: { ...REP, sequential: true },
      expected: full(),
    },
    {
      name: 'a stream with ascending ranges is multipart',
      headers: { range: 'bytes=0-1,5-6' },
      rep: { ...REP, sequential: true },
      expected: multipart([
        [0, 1],
        [5, 6],
      ]),
    },
    {
      name: 'a stream with one range is a plain 206',
      headers: { range: 'bytes=5-6' },
      rep: { ...REP, sequential: true },
      expected: partial(5, 6),
    },
  ]);

  it('the default maxRanges is 100: 100 ranges are multipart, 101 the whole body', () => {
    assert.equal(DEFAULT_MAX_RANGES, 100);
    const rep: RepresentationInfo = { size: 1000, etag: '"big"' };
    const specs = (n: number) => `bytes=${Array.from({ length: n }, (_, i) => `${i * 3}-${i * 3}`).join(',')}`;
    for (const method of ['GET', 'HEAD']) {
      const ok = planResponse({ method, headers: { range: specs(100) } }, rep, { now: NOW });
      assertPlan(
        ok,
        multipart(
          Array.from({ length: 100 }, (_, i): [number, number] => [i * 3, i * 3]),
          rep,
        ),
        method,
      );
      const tooMany = planResponse({ method, headers: { range: specs(101) } }, rep, { now: NOW });
      assertPlan(tooMany, full(rep), method);
    }
  });

  it('ranges that merge below maxRanges are served', () => {
    const header = `bytes=${Array.from({ length: 150 }, (_, i) => `${i}-${i}`).join(',')}`;
    const plan = planResponse({ method: 'GET', headers: { range: header } }, REP, { now: NOW });
    assertPlan(plan, partial(0, 9), 'GET');
  });
});

describe('planResponse: Accept-Ranges', () => {
  it('every 200 and 206 of a rangeable representation carries Accept-Ranges: bytes', () => {
    for (const range of [undefined, 'bytes=0-1', 'bytes=0-1,4-5', 'bytes=x']) {
      for (const method of ['GET', 'HEAD']) {
        const plan = planResponse({ method, headers: range === undefined ? {} : { range } }, REP, { now: NOW });
        assert.ok(plan.status === 200 || plan.status === 206);
        assert.equal(plan.headers['accept-ranges'], 'bytes', `${method} ${range}`);
      }
    }
  });
});

describe('planResponse: Responses', () => {
  it('304 carries exactly the validators and caching fields a 200 would, no length or type', () => {
    const plan = planResponse({ method: 'GET', headers: { 'if-none-match': '"v1"' } }, REP, { now: NOW });
    assert.deepEqual(Object.keys(plan.headers).sort(), [...NOT_MODIFIED_HEADERS].sort());
    const ok = planResponse({ method: 'GET', headers: {} }, REP, { now: NOW });
    for (const name of NOT_MODIFIED_HEADERS) assert.equal(plan.headers[name], ok.headers[name], name);
  });

  runRows([
    {
      name: '304 without validators or caching fields has no header fields',
      headers: { 'if-none-match': '*' },
      rep: { size: 10, contentType: 'image/png' },
      expected: { kind: 'not-modified', headers: {} },
    },
    {
      name: '304 for a weak ETag repeats it',
      headers: { 'if-none-match': 'W/"w"' },
      rep: { size: 3, etag: 'W/"w"', headers: { vary: 'Origin' } },
      expected: { kind: 'not-modified', headers: { etag: 'W/"w"', vary: 'Origin' } },
    },
    {
      name: '412 has no representation body and no representation fields',
      headers: { 'if-match': '"zzz"' },
      expected: FAILED,
    },
    {
      name: '416 carries Content-Range: bytes */len and no representation fields',
      headers: { range: 'bytes=10-' },
      expected: unsatisfiable(),
    },
    {
      name: '206 single carries Content-Range, Content-Length, Content-Type and validators',
      headers: { range: 'bytes=1-3' },
      expected: partial(1, 3),
    },
  ]);

  it('HEAD gets the same status and headers as GET for every case, and no body', () => {
    const cases: IncomingHttpHeaders[] = [
      {},
      { range: 'bytes=1-2' },
      { range: 'bytes=1-2,5-6' },
      { range: 'bytes=50-' },
      { 'if-none-match': '"v1"' },
      { 'if-match': '"v0"' },
      { range: 'bytes=1-2', 'if-range': '"v0"' },
    ];
    const normalise = (plan: ResponsePlan): unknown => {
      const json = JSON.stringify({ ...plan, body: undefined });
      return plan.kind === 'multipart' ? JSON.parse(json.split(plan.boundary).join('B')) : JSON.parse(json);
    };
    for (const headers of cases) {
      const get = planResponse({ method: 'GET', headers }, REP, { now: NOW });
      const head = planResponse({ method: 'HEAD', headers }, REP, { now: NOW });
      assert.deepEqual(normalise(head), normalise(get), JSON.stringify(headers));
      assert.equal(head.body.type, 'none');
    }
  });

  it('a multipart boundary is never one that occurs in the content it frames', () => {
    const seen: string[] = [];
    const layout = multipartLayout([{ start: 0, end: 1 }], 2, 'text/plain', (candidate: string) => {
      seen.push(candidate);
      return seen.length <= 3; // the first three candidates "occur" in the content
    });
    assert.equal(seen.length, 4);
    assert.equal(layout.boundary, seen[3]);
    assert.equal(new Set(seen).size, 4);
  });

  it('a multipart boundary never occurs in the Content-Type of the parts', () => {
    const layout = multipartLayout(
      [
        { start: 0, end: 0 },
        { start: 2, end: 2 },
      ],
      3,
      'text/plain',
    );
    assert.equal(layout.parts[0]?.preamble.startsWith(`--${layout.boundary}\r\n`), true);
    assert.equal(layout.parts[1]?.preamble.startsWith(`\r\n--${layout.boundary}\r\n`), true);
    assert.equal('text/plain'.includes(layout.boundary), false);
  });

  it('a multipart Content-Length counts a non-ASCII (latin1) part Content-Type as sent', () => {
    const rep: RepresentationInfo = { size: 10, contentType: 'text/plain; title=caf\u00e9' };
    const plan = planResponse({ method: 'GET', headers: { range: 'bytes=0-0,2-2' } }, rep, { now: NOW });
    assertPlan(
      plan,
      multipart(
        [
          [0, 0],
          [2, 2],
        ],
        rep,
      ),
      'GET',
    );
  });
});
