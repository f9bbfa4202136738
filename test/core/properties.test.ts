// Property-based tests (fast-check) of the invariants: planning never throws; every 206 part lies
// inside the representation; for well-formed Range headers the served parts are exactly the union of
// the satisfiable specs, merged, in the order of their first spec (docs/behaviour.md "Range requests"); the bytes
// streamed are the representation's slices; a multipart body parses back (dicer) into exactly its
// parts; Content-Length equals the bytes produced.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import type { IncomingHttpHeaders } from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import { after, before, describe, it } from 'node:test';
import {
  type ByteRange,
  bytesRepresentation,
  openFile,
  planResponse,
  type Representation,
  type ResponsePlan,
  streamRepresentation,
} from '@range-serve/core';
import { closeRepresentation, createBody, type RepresentationInfo } from '@range-serve/core/adapter';
import compressible from 'compressible';
import fc from 'fast-check';
import { collect, expectedMultipart, parseMultipart } from './helpers.ts';

const NOW = Date.UTC(2024, 0, 15, 12, 0, 0);
const LM = Date.UTC(2024, 0, 10, 8, 30, 15, 250);
const HUGE = '123456789012345678901234567890';

/** One range-spec as generated: an int-range, an open range or a suffix; `null` positions are HUGE. */
type Spec =
  | { type: 'int'; first: number | null; last: number | null }
  | { type: 'open'; first: number | null }
  | { type: 'suffix'; length: number | null };

const specText = (s: Spec): string => {
  const n = (v: number | null) => (v === null ? HUGE : String(v));
  if (s.type === 'int') return `${n(s.first)}-${n(s.last)}`;
  if (s.type === 'open') return `${n(s.first)}-`;
  return `-${n(s.length)}`;
};

const position = (size: number) =>
  fc.oneof({ weight: 9, arbitrary: fc.integer({ min: 0, max: size + 5 }) }, fc.constant(null));

const specArb = (size: number): fc.Arbitrary<Spec> =>
  fc.oneof(
    {
      weight: 4,
      arbitrary: fc.record({ type: fc.constant('int' as const), first: position(size), last: position(size) }),
    },
    { weight: 1, arbitrary: fc.record({ type: fc.constant('open' as const), first: position(size) }) },
    { weight: 2, arbitrary: fc.record({ type: fc.constant('suffix' as const), length: position(size) }) },
  );

/** A well-formed Range header and its specs. */
const wellFormedRange = (size: number) =>
  fc
    .tuple(
      fc.constantFrom('bytes', 'BYTES', 'Bytes'),
      fc.array(specArb(size), { minLength: 1, maxLength: 8 }),
      fc.constantFrom(',', ', ', ' ,\t', ',,'),
    )
    .map(([unit, specs, sep]) => ({ header: `${unit}=${specs.map(specText).join(sep)}`, specs }));

const junkRange = fc.oneof(
  fc.string({ maxLength: 20 }),
  fc.string({ maxLength: 20 }).map((s) => `bytes=${s}`),
  fc.stringMatching(/^bytes=[-0-9, \t=a]{0,16}$/),
  fc.constantFrom('bytes=', 'bytes', 'bytes=-', 'bytes=--1', 'bytes=1-2-3', 'items=0-1', 'bytes=0-0,-0', '=0-1'),
);

const ETAG = '"v1"';
const etagField = fc.option(fc.constantFrom(ETAG, 'W/"v1"', '*', '"v2"', '"v2", "v1"', 'W/"v2"', 'junk', '""', ''), {
  nil: undefined,
});
const dateField = fc.option(
  fc.oneof(
    fc.integer({ min: -3, max: 3 }).map((d) => new Date(LM + d * 1000).toUTCString()),
    fc.constantFrom('Wed Jan 10 08:30:15 2024', 'Wednesday, 10-Jan-24 08:30:15 GMT', 'garbage', ''),
    fc.string({ maxLength: 30 }),
  ),
  { nil: undefined },
);
const ifRangeField = fc.option(fc.oneof(etagField, dateField), { nil: undefined });

const conditionalHeaders = fc.record({
  'if-match': etagField,
  'if-none-match': etagField,
  'if-modified-since': dateField,
  'if-unmodified-since': dateField,
  'if-range': ifRangeField,
});

function headersOf(range: string | undefined, conditions: Record<string, string | undefined>): IncomingHttpHeaders {
  const headers: IncomingHttpHeaders = {};
  if (range !== undefined) headers.range = range;
  for (const [name, value] of Object.entries(conditions)) if (value !== undefined) headers[name] = value;
  return headers;
}

/** Structural invariants every plan satisfies. */
function assertPlanInvariants(plan: ResponsePlan, method: string, rep: RepresentationInfo): void {
  const size = rep.size;
  // The Vary every answer for this representation carries: its own, or the one a compressing layer implies.
  const typeVaries = rep.contentType !== undefined && compressible(rep.contentType) === true;
  const vary = rep.headers?.vary ?? (typeVaries ? 'Accept-Encoding' : undefined);
  assert.equal(plan.body.type !== 'none', method !== 'HEAD' && [200, 206].includes(plan.status) && size > 0);
  switch (plan.kind) {
    case 'full':
      assert.equal(plan.status, 200);
      assert.equal(plan.headers['content-length'], String(size));
      assert.equal(plan.headers['accept-ranges'], 'bytes');
      assert.equal(plan.headers['content-range'], undefined);
      assert.deepEqual(plan.range, size === 0 ? null : { start: 0, end: size - 1 });
      break;
    case 'partial': {
      const { start, end } = plan.range;
      assert.equal(plan.status, 206);
      assert.ok(Number.isSafeInteger(start) && Number.isSafeInteger(end) && start >= 0 && start <= end && end < size);
      assert.equal(plan.headers['content-range'], `bytes ${start}-${end}/${size}`);
      assert.equal(plan.headers['content-length'], String(end - start + 1));
      assert.equal(plan.headers['accept-ranges'], 'bytes');
      break;
    }
    case 'multipart': {
      assert.equal(plan.status, 206);
      assert.ok(plan.parts.length >= 2);
      const sorted = plan.parts.map((p) => p.range).sort((a, b) => a.start - b.start);
      for (const [i, r] of sorted.entries()) {
        assert.ok(r.start >= 0 && r.start <= r.end && r.end < size, 'every part lies inside the representation');
        if (i > 0) assert.ok(r.start > (sorted[i - 1] as ByteRange).end + 1, 'parts are disjoint and not adjacent');
      }
      assert.equal(plan.headers['content-type'], `multipart/byteranges; boundary=${plan.boundary}`);
      assert.equal(plan.headers['content-range'], undefined);
      assert.equal(plan.headers['accept-ranges'], 'bytes');
      break;
    }
    case 'not-modified':
      assert.equal(plan.status, 304);
      assert.ok(method === 'GET' || method === 'HEAD');
      assert.equal(plan.headers['content-length'], undefined);
      assert.equal(plan.headers['content-type'], undefined);
      break;
    case 'precondition-failed':
      assert.equal(plan.status, 412);
      assert.deepEqual(
        plan.headers,
        rep.headers?.vary === undefined ? { 'content-length': '0' } : { 'content-length': '0', vary },
      );
      break;
    case 'range-not-satisfiable':
      assert.equal(plan.status, 416);
      assert.ok(size > 0);
      assert.deepEqual(
        plan.headers,
        vary === undefined
          ? { 'content-range': `bytes */${size}`, 'content-length': '0' }
          : { 'content-range': `bytes */${size}`, 'content-length': '0', vary },
      );
      break;
  }
}

/** The parts an independent reading of docs/behaviour.md "Range requests" expects, or 200 / 416. */
function rangeOracle(specs: Spec[], size: number, maxRanges: number): 'full' | 'unsatisfiable' | ByteRange[] {
  const clamp = (s: Spec): ByteRange | null | 'reversed' => {
    if (s.type === 'suffix') {
      if (s.length === 0) return null;
      const n = s.length === null || s.length > size ? size : s.length;
      return { start: size - n, end: size - 1 };
    }
    const first = s.first;
    const last = s.type === 'int' ? s.last : null;
    if (s.type === 'int' && (first === null ? last !== null : last !== null && last < first)) return 'reversed';
    if (first === null || first >= size) return null;
    return { start: first, end: last === null || last >= size ? size - 1 : last };
  };
  const clamped = specs.map(clamp);
  if (clamped.includes('reversed')) return 'full';
  if (size === 0) return 'full';
  const wanted = clamped.filter((r): r is ByteRange => r !== null && r !== 'reversed');
  if (wanted.length === 0) return 'unsatisfiable';
  // Union of the wanted bytes, as maximal runs (overlapping and adjacent specs merge).
  const covered = new Uint8Array(size);
  for (const r of wanted) covered.fill(1, r.start, r.end + 1);
  const runs: ByteRange[] = [];
  for (let i = 0; i < size; i++) {
    if (covered[i] === 1 && (i === 0 || covered[i - 1] === 0)) runs.push({ start: i, end: i });
    if (covered[i] === 1) runs[runs.length - 1] = { start: (runs[runs.length - 1] as ByteRange).start, end: i };
  }
  if (runs.length > maxRanges) return 'full';
  // Each run keeps the position of the first spec that falls in it.
  const firstSpec = (run: ByteRange) => wanted.findIndex((r) => r.start >= run.start && r.end <= run.end);
  return runs.sort((a, b) => firstSpec(a) - firstSpec(b));
}

/** Asserts the streamed bytes of `plan` against `content`: slices, exact framing, dicer, Content-Length. */
async function assertBodyBytes(plan: ResponsePlan, rep: Representation, content: Buffer): Promise<void> {
  const body = createBody(plan, rep, { readSize: 13, checkInterval: 29 });
  if (plan.body.type === 'none' || plan.kind === 'not-modified' || plan.kind === 'precondition-failed') {
    assert.equal(body, null);
    return;
  }
  if (plan.kind === 'range-not-satisfiable') {
    assert.equal(body, null);
    return;
  }
  const bytes = body === null ? Buffer.alloc(0) : await collect(body);
  assert.equal(plan.headers['content-length'], String(bytes.length), 'Content-Length equals the bytes produced');
  if (plan.kind === 'full') {
    assert.deepEqual(bytes, content);
  } else if (plan.kind === 'partial') {
    assert.deepEqual(bytes, content.subarray(plan.range.start, plan.range.end + 1));
  } else {
    const ranges = plan.parts.map((p) => p.range);
    assert.deepEqual(bytes, expectedMultipart(content, ranges, plan.boundary, rep.contentType));
    const parts = await parseMultipart(bytes, plan.boundary);
    assert.equal(parts.length, ranges.length);
    for (const [i, part] of parts.entries()) {
      const r = ranges[i] as ByteRange;
      assert.deepEqual(part.headers['content-range'], [`bytes ${r.start}-${r.end}/${content.length}`]);
      assert.deepEqual(part.body, content.subarray(r.start, r.end + 1));
    }
  }
}

const methodArb = fc.constantFrom('GET', 'GET', 'HEAD', 'POST');
const contentArb = fc.uint8Array({ minLength: 0, maxLength: 120 }).map((u) => Buffer.from(u));
const rangeArb = (size: number) =>
  fc.option(
    fc.oneof(
      wellFormedRange(size).map((r) => r.header),
      junkRange,
    ),
    { nil: undefined },
  );

describe('planResponse properties', () => {
  it('never throws, and every plan is well-shaped for random sizes and random Range / If-* headers', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 300 }).chain((size) => fc.tuple(fc.constant(size), rangeArb(size))),
        conditionalHeaders,
        methodArb,
        fc.boolean(),
        ([size, range], conditions, method, sequential) => {
          const rep: RepresentationInfo = { size, etag: ETAG, lastModified: LM, contentType: 'x/y', sequential };
          const plan = planResponse({ method, headers: headersOf(range, conditions) }, rep, { now: NOW });
          assertPlanInvariants(plan, method, rep);
          if (plan.kind === 'multipart' && sequential) {
            const parts = plan.parts.map((p) => p.range.start);
            assert.deepEqual(
              parts,
              [...parts].sort((a, b) => a - b),
              'a stream is only multipart in ascending order',
            );
          }
        },
      ),
      { numRuns: 1500 },
    );
  });

  it('for well-formed Range headers, the parts are the union of the satisfiable specs, merged, in request order', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 60 }).chain((size) => fc.tuple(fc.constant(size), wellFormedRange(size))),
        fc.integer({ min: 1, max: 6 }),
        fc.constantFrom('GET', 'HEAD'),
        ([size, range], maxRanges, method) => {
          const rep: RepresentationInfo = { size, etag: ETAG };
          const plan = planResponse({ method, headers: { range: range.header } }, rep, { now: NOW, maxRanges });
          assertPlanInvariants(plan, method, rep);
          const expected = rangeOracle(range.specs, size, maxRanges);
          if (expected === 'full') assert.equal(plan.kind, 'full', range.header);
          else if (expected === 'unsatisfiable') assert.equal(plan.kind, 'range-not-satisfiable', range.header);
          else if (expected.length === 1) {
            assert.equal(plan.kind, 'partial', range.header);
            assert.ok(plan.kind === 'partial');
            assert.deepEqual(plan.range, expected[0]);
          } else {
            assert.equal(plan.kind, 'multipart', range.header);
            assert.ok(plan.kind === 'multipart');
            assert.deepEqual(
              plan.parts.map((p) => p.range),
              expected,
            );
          }
        },
      ),
      { numRuns: 1500 },
    );
  });
});

describe('body properties', () => {
  it('bytes: the streamed bytes are the slices, multipart parses back, Content-Length is exact', async () => {
    await fc.assert(
      fc.asyncProperty(
        contentArb.chain((content) => fc.tuple(fc.constant(content), rangeArb(content.length))),
        conditionalHeaders,
        methodArb,
        fc.option(fc.constantFrom('text/plain', 'application/octet-stream; q="a,b"'), { nil: undefined }),
        async ([content, range], conditions, method, contentType) => {
          const rep = bytesRepresentation(content, { etag: ETAG, lastModified: LM, contentType });
          const plan = planResponse({ method, headers: headersOf(range, conditions) }, rep, { now: NOW });
          assertPlanInvariants(plan, method, rep);
          await assertBodyBytes(plan, rep, content);
        },
      ),
      { numRuns: 300 },
    );
  });

  it('streams in random chunks: ranges by skipping give the exact slices, or the whole body with 200', async () => {
    await fc.assert(
      fc.asyncProperty(
        contentArb.chain((content) =>
          fc.tuple(
            fc.constant(content),
            fc.oneof(
              { weight: 3, arbitrary: wellFormedRange(content.length).map((r) => r.header) },
              { weight: 1, arbitrary: junkRange },
            ),
            fc.array(fc.integer({ min: 1, max: 40 }), { minLength: 1, maxLength: 10 }),
          ),
        ),
        async ([content, range, cuts]) => {
          const chunks: Buffer[] = [];
          for (let at = 0, i = 0; at < content.length; i++) {
            const n = cuts[i % cuts.length] as number;
            chunks.push(content.subarray(at, at + n));
            at += n;
          }
          const source = Readable.from(chunks, { objectMode: false });
          const rep = streamRepresentation(source, content.length, { contentType: 'video/mp4' });
          const plan = planResponse({ method: 'GET', headers: { range } }, rep, { now: NOW });
          assertPlanInvariants(plan, 'GET', rep);
          await assertBodyBytes(plan, rep, content);
        },
      ),
      { numRuns: 300 },
    );
  });

  describe('files', () => {
    let dir: string;
    before(() => {
      dir = fs.mkdtempSync(path.join(os.tmpdir(), 'range-serve-prop-'));
    });
    after(() => fs.rmSync(dir, { recursive: true, force: true }));

    it('files: positioned reads in small chunks give the exact slices and framing', async () => {
      let n = 0;
      await fc.assert(
        fc.asyncProperty(
          contentArb.chain((content) => fc.tuple(fc.constant(content), rangeArb(content.length))),
          async ([content, range]) => {
            const file = path.join(dir, `f${n++}`);
            fs.writeFileSync(file, content);
            const rep = await openFile(file, { contentType: 'application/pdf' });
            try {
              const plan = planResponse({ method: 'GET', headers: range === undefined ? {} : { range } }, rep, {
                now: NOW,
              });
              assertPlanInvariants(plan, 'GET', rep);
              await assertBodyBytes(plan, rep, content);
            } finally {
              await closeRepresentation(rep);
            }
          },
        ),
        { numRuns: 100 },
      );
    });
  });
});
