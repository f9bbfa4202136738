/**
 * Hostile upload fields: random values for every field the two protocols read never crash the server,
 * every answer is one the protocol allows for that request, every Upload-Offset it states is the
 * upload's true durable offset, and a refused request leaves the stored bytes exactly as they were.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import fc from 'fast-check';
import { detectProtocol } from '../../packages/core/src/upload/protocol.ts';
import { startNodeServer } from './node-server.ts';
import { send } from './raw.ts';

const FIELDS = [
  'tus-resumable',
  'upload-draft-interop-version',
  'upload-offset',
  'upload-length',
  'upload-defer-length',
  'upload-complete',
  'upload-metadata',
  'upload-checksum',
  'content-type',
  'content-disposition',
] as const;

/** Stand-ins replaced per request: the watched upload's real offset, a checksum that matches the body, or not. */
const CURRENT = '<current offset>';
const GOOD_SUM = '<matching checksum>';
const BAD_SUM = '<mismatching checksum>';

/** Header values Node will send: visible ASCII and spaces, structured-field look-alikes, and valid values. */
const value = fc.oneof(
  fc.stringMatching(/^[\x21-\x7e][\x20-\x7e]{0,40}$/),
  fc.constantFrom(
    '1.0.0',
    '0.2.2',
    '6',
    '7',
    '8',
    '5',
    '?1',
    '?0',
    '?2',
    '0',
    '-1',
    '1e3',
    '4.0',
    '99999999999999999999',
    ':AAA=:',
    '"x"',
    '?1;x=1',
    'filename ZmlsZS50eHQ=,filetype dGV4dC9wbGFpbg==',
    'key',
    'key !!!',
    'sha1 AAAA',
    'crc32 AAAA',
    'application/offset+octet-stream',
    'application/partial-upload',
  ),
  fc.constantFrom(CURRENT, CURRENT, GOOD_SUM, BAD_SUM),
);

/** Statuses each protocol allows, per method, on the endpoint (POST, OPTIONS) or on an existing upload. */
const ALLOWED: Record<ReturnType<typeof detectProtocol>['kind'], Record<string, number[]>> = {
  // tus 1.0.0: 201 creation, 204 append/termination, 200 HEAD; 400 bad fields, 409 offset, 412 version,
  // 413 size, 415 type, 460 checksum; 404 an unknown upload (the DELETE target).
  tus: {
    POST: [201, 400, 413, 415, 460],
    PATCH: [204, 400, 409, 413, 415, 460],
    HEAD: [200],
    GET: [200],
    DELETE: [404],
  },
  // The draft: 201 creation, 204 append and offset retrieval; 400 (invalid or inconsistent fields, a
  // completed upload), 409 offset, 413 limits, 415 type; 404 unknown.
  draft: {
    POST: [201, 400, 413],
    PATCH: [204, 400, 409, 413, 415],
    HEAD: [204, 400],
    GET: [204, 400],
    DELETE: [404],
  },
  // Another version: tus 412, the draft 400; a HEAD or GET without a spoken protocol is a download (none yet: 404).
  'unsupported-tus': { POST: [412], PATCH: [412], HEAD: [404], GET: [404], DELETE: [412] },
  'unsupported-draft': { POST: [400], PATCH: [400], HEAD: [404], GET: [404], DELETE: [400] },
  // tus fields without Tus-Resumable: 412 as for another version; GET and HEAD stay downloads.
  'unversioned-tus': { POST: [412], PATCH: [412], HEAD: [404], GET: [404], DELETE: [412] },
  // Not an upload request: the plain server's 404 (fall-through), or the download path (an unfinished upload: 404).
  none: { POST: [404], PATCH: [404], HEAD: [404], GET: [404], DELETE: [404] },
};

/** OPTIONS ignores Tus-Resumable (tus) and refuses an interop version other than 6, 7 and 8 with 400. */
function allowedForOptions(headers: Record<string, string>): number[] {
  const interop = headers['upload-draft-interop-version'];
  if (interop === undefined) return [204];
  return detectProtocol({ 'upload-draft-interop-version': interop }).kind === 'draft' ? [204] : [400];
}

const LENGTH = 100;
const TUS_PATCH = { 'tus-resumable': '1.0.0', 'content-type': 'application/offset+octet-stream' };

describe('hostile upload fields', () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'range-serve-upload-fuzz-'));
  let server: Awaited<ReturnType<typeof startNodeServer>>;
  before(async () => {
    server = await startNodeServer({ directory: dir, maxSize: 10_000 });
  });
  after(async () => {
    await server.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('get only answers their protocol allows, state the true offset, and leave the stored bytes as they were when refused', async () => {
    let location = '';
    let stored = Buffer.alloc(0);
    const watch = async (): Promise<void> => {
      const created = await send(server.baseUrl, '/files', 'POST', {
        'tus-resumable': '1.0.0',
        'upload-length': String(LENGTH),
      });
      assert.equal(created.status, 201);
      location = created.headers.location ?? '';
      stored = Buffer.alloc(0);
    };
    const dataFile = (): string => path.join(dir, location.slice('/files/'.length));
    await watch();
    const answered = new Map<number, number>();
    await fc.assert(
      fc.asyncProperty(
        fc.constantFrom<string>('POST', 'PATCH', 'PATCH', 'PATCH', 'HEAD', 'OPTIONS', 'DELETE', 'GET'),
        fc
          .tuple(
            // Mostly a spoken protocol and a fitting media type, so that the other fields get read.
            fc.oneof(
              fc.constant({ 'tus-resumable': '1.0.0' }),
              fc.constantFrom('6', '7', '8').map((v) => ({ 'upload-draft-interop-version': v })),
              fc.dictionary(fc.constantFrom('tus-resumable', 'upload-draft-interop-version'), value, { maxKeys: 2 }),
            ),
            fc.option(fc.constantFrom('application/offset+octet-stream', 'application/partial-upload'), {
              nil: undefined,
            }),
            fc.option(fc.oneof(fc.constant(CURRENT), fc.constant('0'), value), { nil: undefined }),
            fc.option(fc.constantFrom(GOOD_SUM, BAD_SUM), { nil: undefined, freq: 2 }),
            fc.dictionary(fc.constantFrom(...FIELDS), value, { maxKeys: 4 }),
          )
          .map(([protocol, type, offset, checksum, fields]): Record<string, string> => ({
            ...(type === undefined ? {} : { 'content-type': type }),
            ...(offset === undefined ? {} : { 'upload-offset': offset }),
            ...(checksum === undefined ? {} : { 'upload-checksum': checksum }),
            ...fields,
            ...protocol,
          })),
        fc.uint8Array({ maxLength: 64 }),
        async (method, generated, bytes) => {
          const body = Buffer.from(bytes);
          const headers: Record<string, string> = {};
          for (const [name, v] of Object.entries(generated)) {
            headers[name] =
              v === CURRENT
                ? String(stored.length)
                : v === GOOD_SUM
                  ? `sha1 ${createHash('sha1').update(body).digest('base64')}`
                  : v === BAD_SUM
                    ? `sha1 ${createHash('sha1').update(body).update('x').digest('base64')}`
                    : v;
          }
          const target = method === 'POST' || method === 'OPTIONS' ? '/files' : location;
          // DELETE would end the upload the property watches: send it to another id.
          const to = method === 'DELETE' ? '/files/AAAAAAAAAAAAAAAAAAAAAA' : target;
          const withBody = method !== 'HEAD' && method !== 'GET';
          // Node frames an OPTIONS or DELETE body only when told its length.
          if (withBody) headers['content-length'] = String(body.length);
          const res = await send(server.baseUrl, to, method, headers, withBody ? body : undefined);
          answered.set(res.status, (answered.get(res.status) ?? 0) + 1);
          const what = `${method} ${JSON.stringify(headers)} with ${withBody ? body.length : 0} bytes`;
          assert.ok(res.status < 500, `${what} got ${res.status}`);
          const protocol = detectProtocol(headers).kind;
          const allowed = method === 'OPTIONS' ? allowedForOptions(headers) : (ALLOWED[protocol][method] ?? []);
          assert.ok(allowed.includes(res.status), `${what}: ${res.status} is not a ${protocol} answer to ${method}`);
          if (protocol === 'tus' && method !== 'OPTIONS') assert.equal(res.headers['tus-resumable'], '1.0.0', what);
          // An append that was accepted stored exactly its body; anything else stored nothing.
          if (method === 'PATCH' && res.status === 204) stored = Buffer.concat([stored, body]);
          if (to === location && res.headers['upload-offset'] !== undefined) {
            assert.equal(res.headers['upload-offset'], String(stored.length), `${what}: the offset it states`);
          }
          assert.ok(readFileSync(dataFile()).equals(stored), `${what}: the stored bytes changed`);
          const head = await send(server.baseUrl, location, 'HEAD', { 'tus-resumable': '1.0.0' });
          assert.equal(head.status, 200);
          assert.equal(head.headers['upload-offset'], String(stored.length));
          const metadata = JSON.parse(readFileSync(`${dataFile()}.json`, 'utf8')) as { offset: number };
          assert.equal(metadata.offset, stored.length, `${what}: the durable offset`);
          // A finished (or draft-completed) upload takes no more content: watch a fresh one.
          if (stored.length >= LENGTH - 64 || res.headers['upload-complete'] === '?1') await watch();
        },
      ),
      {
        numRuns: 400,
        // Always among the runs: a mismatching checksum (460, bytes dropped), a stale offset (409), an accepted append.
        examples: [
          ['PATCH', { ...TUS_PATCH, 'upload-offset': CURRENT, 'upload-checksum': BAD_SUM }, Uint8Array.from([1, 2, 3])],
          ['PATCH', { ...TUS_PATCH, 'upload-offset': '99' }, Uint8Array.from([4])],
          ['PATCH', { ...TUS_PATCH, 'upload-offset': CURRENT, 'upload-checksum': GOOD_SUM }, Uint8Array.from([5, 6])],
        ],
      },
    );
    // The run reached the interesting answers, not only refusals of malformed fields.
    for (const status of [204, 400, 409, 415, 460]) {
      assert.ok((answered.get(status) ?? 0) > 0, `no ${status} in ${JSON.stringify([...answered])}`);
    }
    assert.ok(existsSync(dataFile()));
    const options = await send(server.baseUrl, '/files', 'OPTIONS');
    assert.equal(options.status, 204);
  });
});
