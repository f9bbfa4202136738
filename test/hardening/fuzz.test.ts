// Fast-check sends hostile Range, If-Range, If-Match, If-None-Match, If-Modified-Since
// and If-Unmodified-Since values (random bytes, huge numbers, thousands of commas, deep whitespace,
// repeated header lines) to every adapter. No crash, no unhandled rejection, and every answer is one the
// docs/behaviour.md oracle (./oracle.ts) allows, with every 200 and 206 body exactly the file's bytes.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { utimesSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import fc from 'fast-check';
import type { HostBehaviour, RunningServer } from '../conformance/scenarios.ts';
import { type Fixtures, makeFixtures } from '../helpers/fixtures.ts';
import { parseMultipart } from '../helpers/multipart.ts';
import { ADAPTERS } from './adapters.ts';
import { type Answer, allowedAnswers, type DateMeaning, type EtagMeaning, type RequestMeaning } from './oracle.ts';
import { buildRequest, exchange, type HeaderLine, type RawReply } from './raw.ts';

const SIZE = 1000;
/** The file's modification time: whole seconds, long before any response's Date, so Last-Modified is strong. */
const MTIME_S = Date.UTC(2020, 5, 1, 12, 0, 0) / 1000;
const RUNS = Number(process.env.FUZZ_RUNS ?? 300);

/** A generated value: the bytes sent on the header line, and what the value means (undefined: not decided here). */
interface Value<M> {
  readonly text: string; // latin1, one character per byte
  readonly meaning: M;
}

const OTHER = '"not-the-current-tag"';
const ws = fc.constantFrom('', ' ', '\t', ' \t ', ' '.repeat(2000), '\t'.repeat(300));
const sep = fc.constantFrom(
  ',',
  ', ',
  ' ,\t',
  ',,',
  ' , , ',
  ','.repeat(3000),
  `${' '.repeat(500)},${'\t'.repeat(500)}`,
);

/** Random bytes except CR and LF (which would end the line), mostly printable. */
const junkBytes = fc
  .array(
    fc.oneof(
      { weight: 6, arbitrary: fc.integer({ min: 0x20, max: 0x7e }) },
      { weight: 1, arbitrary: fc.integer({ min: 0x80, max: 0xff }) },
      { weight: 1, arbitrary: fc.constantFrom(0x00, 0x01, 0x09, 0x0b, 0x1f, 0x7f) },
    ),
    { maxLength: 60 },
  )
  .map((codes) => String.fromCharCode(...codes));
const junk = fc.oneof(
  junkBytes,
  fc.string({ maxLength: 40 }).map((s) =>
    Buffer.from(s, 'utf8')
      .toString('latin1')
      .replace(/[\r\n]/g, ''),
  ),
  fc.bigInt({ min: 0n, max: 10n ** 40n }).map(String),
  fc.integer({ min: 1, max: 5000 }).map((n) => '9'.repeat(n)),
  fc.integer({ min: 1, max: 5000 }).map((n) => ','.repeat(n)),
  fc.constantFrom(
    '',
    '*',
    '*, "x"',
    'W/',
    '"',
    'W/"',
    '""',
    'W/""',
    '"a" "b"',
    'W/ "x"',
    '"x',
    'x"',
    '-1',
    '0',
    'null',
  ),
);

/** Entity-tag list fields: a readable list of known tags, `*`, or junk (undecided by docs/behaviour.md). */
const etagField = (current: string): fc.Arbitrary<Value<EtagMeaning>> =>
  fc.oneof(
    {
      weight: 4,
      arbitrary: fc
        .tuple(fc.array(fc.constantFrom('cur', 'wcur', 'other', 'wother'), { minLength: 1, maxLength: 4 }), sep, ws, ws)
        .map(([tokens, s, lead, trail]) => ({
          text:
            lead +
            tokens.map((t) => ({ cur: current, wcur: `W/${current}`, other: OTHER, wother: `W/${OTHER}` })[t]).join(s) +
            trail,
          meaning: {
            kind: 'list',
            strongCurrent: tokens.includes('cur'),
            weakCurrent: tokens.includes('wcur'),
          } as const,
        })),
    },
    { weight: 1, arbitrary: ws.map((w) => ({ text: `${w}*${w}`, meaning: { kind: 'any' } as const })) },
    { weight: 3, arbitrary: junk.map((text) => ({ text, meaning: { kind: 'unknown' } as const })) },
  );

const DAYS = ['Sun', 'Mon', 'Tue', 'Wed', 'Thu', 'Fri', 'Sat'];
const LONG_DAYS = ['Sunday', 'Monday', 'Tuesday', 'Wednesday', 'Thursday', 'Friday', 'Saturday'];
const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];
const p2 = (n: number) => String(n).padStart(2, '0');
/** The three HTTP-date formats of RFC 9110 5.6.7, written out here rather than taken from the core. */
function httpDate(seconds: number, format: 'imf' | 'rfc850' | 'asctime'): string {
  const d = new Date(seconds * 1000);
  const time = `${p2(d.getUTCHours())}:${p2(d.getUTCMinutes())}:${p2(d.getUTCSeconds())}`;
  const mon = MONTHS[d.getUTCMonth()] as string;
  if (format === 'imf') return `${DAYS[d.getUTCDay()]}, ${p2(d.getUTCDate())} ${mon} ${d.getUTCFullYear()} ${time} GMT`;
  if (format === 'rfc850')
    return `${LONG_DAYS[d.getUTCDay()]}, ${p2(d.getUTCDate())}-${mon}-${String(d.getUTCFullYear()).slice(2)} ${time} GMT`;
  return `${DAYS[d.getUTCDay()]} ${mon} ${String(d.getUTCDate()).padStart(2, ' ')} ${time} ${d.getUTCFullYear()}`;
}
const OFFSETS = [-86_400, -1, 0, 1, 86_400];

/** Date fields: a valid date around the mtime, two dates in one field (ignored), or junk (an invalid date, ignored). */
const dateField: fc.Arbitrary<Value<DateMeaning>> = fc.oneof(
  {
    weight: 4,
    arbitrary: fc
      .tuple(fc.constantFrom(...OFFSETS), fc.constantFrom('imf' as const, 'rfc850' as const, 'asctime' as const), ws)
      .map(([offset, format, w]) => ({
        text: `${w}${httpDate(MTIME_S + offset, format)}${w}`,
        meaning: { kind: 'date', seconds: MTIME_S + offset } as const,
      })),
  },
  {
    weight: 1,
    arbitrary: fc.tuple(fc.constantFrom(...OFFSETS), fc.constantFrom(...OFFSETS)).map(([a, b]) => ({
      text: `${httpDate(MTIME_S + a, 'imf')}, ${httpDate(MTIME_S + b, 'imf')}`,
      meaning: { kind: 'ignored' } as const,
    })),
  },
  { weight: 3, arbitrary: junk.map((text) => ({ text, meaning: { kind: 'ignored' } as const })) },
);

/** If-Range: the current tag (true), a weak or other tag (false), the exact Last-Modified (true), another date or junk (false). */
const ifRangeField = (current: string): fc.Arbitrary<Value<boolean>> =>
  fc.oneof(
    fc.constantFrom(
      { text: current, meaning: true },
      { text: `W/${current}`, meaning: false },
      { text: OTHER, meaning: false },
    ),
    fc
      .tuple(fc.constantFrom(...OFFSETS), fc.constantFrom('imf' as const, 'rfc850' as const, 'asctime' as const))
      .map(([offset, format]) => ({ text: httpDate(MTIME_S + offset, format), meaning: offset === 0 })),
    junk.map((text) => ({ text, meaning: false })),
  );

const HUGE = '123456789012345678901234567890';
const pos = fc.oneof(
  { weight: 6, arbitrary: fc.integer({ min: 0, max: SIZE + 5 }).map(String) },
  { weight: 2, arbitrary: fc.integer({ min: SIZE - 3, max: SIZE + 3 }).map(String) },
  { weight: 1, arbitrary: fc.constant('0') },
  { weight: 1, arbitrary: fc.constantFrom(HUGE, String(Number.MAX_SAFE_INTEGER + 2), `000${SIZE - 1}`) },
);
const spec = fc.oneof(
  { weight: 10, arbitrary: fc.tuple(pos, pos).map(([a, b]) => `${a}-${b}`) },
  { weight: 4, arbitrary: pos.map((a) => `${a}-`) },
  { weight: 4, arbitrary: pos.map((b) => `-${b}`) },
  { weight: 1, arbitrary: junk },
);
/** Specs that can never be satisfied: a first-pos at or past the end, or `-0`. */
const unsatisfiable = fc.oneof(
  fc.integer({ min: SIZE, max: SIZE + 100 }).map((a) => `${a}-`),
  fc.integer({ min: SIZE, max: SIZE + 100 }).map((a) => `${a}-${a + 5}`),
  fc.constant('-0'),
  fc.constant(`${HUGE}-`),
);
/** Range: mostly well-formed sets (any unit case, many specs, hostile separators), sometimes junk. */
const rangeField: fc.Arbitrary<string> = fc.oneof(
  {
    weight: 4,
    arbitrary: fc
      .tuple(
        fc.oneof(
          { weight: 8, arbitrary: fc.constantFrom('bytes', 'BYTES', 'Bytes') },
          { weight: 1, arbitrary: fc.constantFrom('items', 'bytes ', '', 'byte') },
        ),
        fc.array(spec, { minLength: 1, maxLength: 8 }),
        sep,
        ws,
      )
      .map(([unit, specs, s, w]) => `${unit}=${w}${specs.join(s)}${w}`),
  },
  {
    weight: 1,
    arbitrary: fc
      .integer({ min: 100, max: 3000 })
      .map((n) => `bytes=${Array.from({ length: n }, (_, i) => `${i}-${i}`).join(',')}`),
  },
  {
    weight: 1,
    arbitrary: fc.array(unsatisfiable, { minLength: 1, maxLength: 4 }).map((specs) => `bytes=${specs.join(',')}`),
  },
  { weight: 1, arbitrary: junk },
);

/** 1 to 3 header lines of a field (repeated lines are legal for list fields, and hostile for the others), or none. */
const lines = <T>(arb: fc.Arbitrary<T>, presentWeight: number) =>
  fc.oneof(
    { weight: (10 - presentWeight) * 10, arbitrary: fc.constant(undefined) },
    { weight: presentWeight * 8, arbitrary: arb.map((v) => [v]) },
    { weight: presentWeight * 2, arbitrary: fc.array(arb, { minLength: 2, maxLength: 3 }) },
  );

interface Case {
  readonly range?: string[];
  readonly ifRange?: Value<boolean>[];
  readonly ifMatch?: Value<EtagMeaning>[];
  readonly ifNoneMatch?: Value<EtagMeaning>[];
  readonly ifModifiedSince?: Value<DateMeaning>[];
  readonly ifUnmodifiedSince?: Value<DateMeaning>[];
}

const caseArb = (current: string): fc.Arbitrary<Case> =>
  fc.record(
    {
      range: lines(rangeField, 8),
      ifRange: lines(ifRangeField(current), 3),
      ifMatch: lines(etagField(current), 2),
      ifNoneMatch: lines(etagField(current), 2),
      ifModifiedSince: lines(dateField, 2),
      ifUnmodifiedSince: lines(dateField, 2),
    },
    { requiredKeys: [] },
  );

/** Node answers 400 itself for a field value holding a control character other than HTAB. */
const hasCtl = (text: string) =>
  [...text].some((ch) => {
    const code = ch.charCodeAt(0);
    return (code < 0x20 && code !== 0x09) || code === 0x7f;
  });
/** Node trims leading and trailing whitespace from field values. */
const trimmed = (text: string) => text.replace(/^[ \t]+|[ \t]+$/g, '');

/**
 * What the app sees: Node joins repeated list fields with `, ` and keeps the first of a repeated date
 * field; a host that joins every field (`host.joinsRepeatedFields`, the Fetch `Headers`) hands over two
 * dates in one value, which docs/behaviour.md ignores.
 */
function meaningOf(c: Case, host: HostBehaviour = {}): RequestMeaning {
  const date = (values: Value<DateMeaning>[] | undefined): DateMeaning | undefined =>
    host.joinsRepeatedFields === true && values !== undefined && values.length > 1 ? undefined : values?.[0]?.meaning;
  const etag = (values: Value<EtagMeaning>[] | undefined): EtagMeaning | undefined => {
    if (values === undefined) return undefined;
    if (values.length === 1) return (values[0] as Value<EtagMeaning>).meaning;
    const metas = values.map((v) => v.meaning);
    // Joined lists stay a list; a `*` or junk among them is not decided by docs/behaviour.md.
    if (metas.some((m) => m.kind !== 'list')) return { kind: 'unknown' };
    return {
      kind: 'list',
      strongCurrent: metas.some((m) => m.kind === 'list' && m.strongCurrent),
      weakCurrent: metas.some((m) => m.kind === 'list' && m.weakCurrent),
    };
  };
  return {
    range: c.range?.map(trimmed).join(', '),
    // Two If-Range lines join into "a, b", which is neither one entity-tag nor one date: false.
    ifRange:
      c.ifRange === undefined ? undefined : c.ifRange.length === 1 ? (c.ifRange[0] as Value<boolean>).meaning : false,
    ifMatch: etag(c.ifMatch),
    ifNoneMatch: etag(c.ifNoneMatch),
    ifModifiedSince: date(c.ifModifiedSince),
    ifUnmodifiedSince: date(c.ifUnmodifiedSince),
  };
}

/** Whether If-None-Match lists the current tag in its weak form only. */
function onlyWeakForm(meaning: RequestMeaning): boolean {
  const inm = meaning.ifNoneMatch;
  return inm?.kind === 'list' && inm.weakCurrent && !inm.strongCurrent;
}

function headerLines(c: Case): HeaderLine[] {
  const out: HeaderLine[] = [];
  const add = (name: string, values: readonly (string | Value<unknown>)[] | undefined) => {
    for (const v of values ?? []) out.push([name, typeof v === 'string' ? v : v.text]);
  };
  add('Range', c.range);
  add('If-Range', c.ifRange);
  add('If-Match', c.ifMatch);
  add('If-None-Match', c.ifNoneMatch);
  add('If-Modified-Since', c.ifModifiedSince);
  add('If-Unmodified-Since', c.ifUnmodifiedSince);
  return out;
}

/** Asserts that `res` is one of `allowed`, with exact bytes and the headers docs/behaviour.md "Responses" lists. */
async function assertAllowed(
  res: RawReply,
  allowed: Answer[],
  content: Buffer,
  etag: string,
  meaning: RequestMeaning,
): Promise<void> {
  const size = content.length;
  const label = `${res.status}, allowed ${JSON.stringify(allowed)}`;
  assert.ok(res.complete, `${label}: body shorter than its Content-Length`);
  switch (res.status) {
    case 200:
      assert.ok(
        allowed.some((a) => a.status === 200),
        label,
      );
      assert.deepEqual(res.body, content);
      assert.equal(res.headers['accept-ranges'], 'bytes');
      assert.equal(res.headers.etag, etag);
      return;
    case 304:
      assert.ok(
        allowed.some((a) => a.status === 304),
        label,
      );
      assert.equal(res.body.length, 0);
      // A client holding only the weak form of the tag got an encoded copy: its 304 names that form.
      if (meaning.ifNoneMatch?.kind === 'unknown') assert.ok([etag, `W/${etag}`].includes(res.headers.etag ?? ''));
      else assert.equal(res.headers.etag, onlyWeakForm(meaning) ? `W/${etag}` : etag);
      assert.equal(res.headers['content-length'], undefined);
      assert.equal(res.headers['content-type'], undefined);
      return;
    case 412:
      assert.ok(
        allowed.some((a) => a.status === 412),
        label,
      );
      assert.equal(res.body.length, 0);
      return;
    case 416:
      assert.ok(
        allowed.some((a) => a.status === 416),
        label,
      );
      assert.equal(res.headers['content-range'], `bytes */${size}`);
      assert.equal(res.body.length, 0);
      return;
    case 206: {
      const expected = allowed.find((a) => a.status === 206);
      assert.ok(expected !== undefined && expected.status === 206, label);
      const type = res.headers['content-type'] ?? '';
      let got: { range: string; body: Buffer }[];
      if (type.startsWith('multipart/byteranges')) {
        assert.equal(res.headers['content-range'], undefined, 'no top-level Content-Range on a multipart 206');
        const parts = await parseMultipart(res.body, type);
        got = parts.map((p) => ({ range: p.headers['content-range'] ?? '', body: p.body }));
        assert.ok(parts.every((p) => p.headers['content-type'] === 'application/octet-stream'));
      } else {
        got = [{ range: res.headers['content-range'] ?? '', body: res.body }];
      }
      assert.deepEqual(
        got.map((g) => g.range),
        expected.ranges.map(([a, b]) => `bytes ${a}-${b}/${size}`),
        label,
      );
      // Every 206 body is exactly the file's bytes.
      expected.ranges.forEach(([a, b], i) => assert.deepEqual(got[i]?.body, content.subarray(a, b + 1)));
      assert.equal(res.headers['accept-ranges'], 'bytes');
      return;
    }
    default:
      assert.fail(`status ${res.status} is never allowed here`);
  }
}

for (const adapter of ADAPTERS) {
  describe(`${adapter.name}: hostile conditional and Range fields`, () => {
    let fx: Fixtures;
    let server: RunningServer;
    let content: Buffer;
    let etag: string;
    const problems: unknown[] = [];
    const record = (err: unknown) => problems.push(err);

    before(async () => {
      fx = makeFixtures();
      content = randomBytes(SIZE);
      const file = path.join(fx.root, 'data.bin');
      writeFileSync(file, content);
      utimesSync(file, MTIME_S, MTIME_S);
      server = await adapter.factory({ root: fx.root });
      const first = await exchange(server.baseUrl, buildRequest('/data.bin'));
      etag = first.headers.etag ?? '';
      assert.match(etag, /^"[^"]+"$/);
      assert.equal(first.headers['last-modified'], httpDate(MTIME_S, 'imf'));
      process.on('unhandledRejection', record);
      process.on('uncaughtException', record);
    });
    after(async () => {
      process.off('unhandledRejection', record);
      process.off('uncaughtException', record);
      await server.close();
      fx.remove();
    });

    it(`${RUNS} generated requests: every answer is one the documented behaviour allows, with exact bytes`, async () => {
      const seen = new Map<number, number>();
      await fc.assert(
        fc.asyncProperty(caseArb(etag), async (c) => {
          const request = buildRequest('/data.bin', headerLines(c));
          const res = await exchange(server.baseUrl, request);
          seen.set(res.status, (seen.get(res.status) ?? 0) + 1);
          if (headerLines(c).some(([, v]) => hasCtl(String(v)))) {
            // Node's parser refuses the request before any app code runs.
            assert.equal(res.status, 400);
            return;
          }
          const meaning = meaningOf(c, adapter.host);
          await assertAllowed(res, allowedAnswers(meaning, SIZE, MTIME_S), content, etag, meaning);
        }),
        { numRuns: RUNS },
      );
      console.log(`  ${adapter.name}: statuses ${JSON.stringify([...seen].sort())}`);
      // The generators reach every kind of answer, or the property says less than it seems to.
      for (const status of [200, 206, 304, 412, 416]) assert.ok((seen.get(status) ?? 0) > 0, `no ${status} generated`);
    });

    it('no unhandled rejection or uncaught exception, and the server still answers', async () => {
      assert.deepEqual(problems, []);
      const res = await exchange(server.baseUrl, buildRequest('/data.bin', [['Range', 'bytes=0-9']]));
      assert.equal(res.status, 206);
      assert.deepEqual(res.body, content.subarray(0, 10));
    });
  });
}
