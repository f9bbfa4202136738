/**
 * Hostile upload fields: random values for every field the two protocols read never crash the server,
 * never get a 5xx, never move an offset without content, and leave the server answering.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import fc from 'fast-check';
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

/** Header values Node will send: visible ASCII and spaces, plus a few structured-field look-alikes. */
const value = fc.oneof(
  fc.stringMatching(/^[\x21-\x7e][\x20-\x7e]{0,40}$/),
  fc.constantFrom('1.0.0', '6', '7', '8', '?1', '?0', '0', '-1', '1e3', '4.0', '99999999999999999999', ':AAA=:', '"x"'),
);

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

  it('never get a 5xx and never move an offset without content', async () => {
    const created = await send(server.baseUrl, '/files', 'POST', { 'tus-resumable': '1.0.0', 'upload-length': '100' });
    const location = created.headers.location ?? '';
    await fc.assert(
      fc.asyncProperty(
        fc.constantFrom('POST', 'PATCH', 'HEAD', 'OPTIONS', 'DELETE', 'GET'),
        fc.dictionary(fc.constantFrom(...FIELDS), value, { maxKeys: 6 }),
        fc.uint8Array({ maxLength: 64 }),
        async (method, headers, body) => {
          const target = method === 'POST' || method === 'OPTIONS' ? '/files' : location;
          // DELETE would end the upload the property watches: send it to another id.
          const to = method === 'DELETE' ? '/files/AAAAAAAAAAAAAAAAAAAAAA' : target;
          const res = await send(
            server.baseUrl,
            to,
            method,
            headers,
            method === 'HEAD' || method === 'GET' ? undefined : Buffer.from(body),
          );
          assert.ok(res.status < 500, `${method} ${JSON.stringify(headers)} got ${res.status}`);
          const head = await send(server.baseUrl, location, 'HEAD', { 'tus-resumable': '1.0.0' });
          assert.equal(head.status, 200);
          const offset = Number(head.headers['upload-offset']);
          assert.ok(offset <= 100);
        },
      ),
      { numRuns: 300 },
    );
    const options = await send(server.baseUrl, '/files', 'OPTIONS');
    assert.equal(options.status, 204);
  });
});
