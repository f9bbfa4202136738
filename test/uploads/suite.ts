/**
 * The resumable-upload conformance suite, written once and run on Express 4 and 5 and Koa 2 and 3:
 * tus 1.0.0 and every draft interop version, exact statuses, headers and bytes over raw node:http.
 */
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync, unlinkSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, it, type TestContext } from 'node:test';
import type { ResumableUploadOptions } from '@range-serve/express';
import * as tus from 'tus-js-client';
import type { RunningServer, UploadServerFactory, UploadSetup } from './factory.ts';
import { openRequest, pause, send, type UploadReply } from './raw.ts';

/** The upload directory's entries, without the owner file that says which process owns it. */
function listUploads(dir: string): string[] {
  return readdirSync(dir).filter((name) => name !== '.range-serve-owner');
}

/**
 * The files of the uploads in `dir`, sorted, without a metadata rewrite in flight (`<id>.json.tmp`: a
 * final upload's digest recorded in the background after its 201 may be renamed into place at any time).
 */
function uploadFiles(dir: string): string[] {
  return readdirSync(dir)
    .filter((name) => name !== '.range-serve-owner' && !name.endsWith('.json.tmp'))
    .sort();
}

const TUS = { 'tus-resumable': '1.0.0' } as const;
const ID_PATH = /^\/files\/[A-Za-z0-9_-]{22}$/;
const DRAFT_PROBLEM = 'https://iana.org/assignments/http-problem-types#';

function draft(version: number): Record<string, string> {
  return { 'upload-draft-interop-version': String(version) };
}

function b64(text: string): string {
  return Buffer.from(text, 'utf8').toString('base64');
}

/** What a host does differently, where the protocols leave it free to. */
export interface UploadHostBehaviour {
  /**
   * A request taken over by a newer one is answered 409 (its body cancelled, as a Web-standard host
   * does), instead of having its connection cut (Node).
   */
  readonly takenOverAnswered?: boolean;
}

/** Runs the whole upload suite against one adapter. */
export function runUploadConformance(name: string, factory: UploadServerFactory, host: UploadHostBehaviour = {}): void {
  describe(`${name} resumable uploads`, () => {
    const roots: string[] = [];
    after(() => {
      for (const root of roots) rmSync(root, { recursive: true, force: true });
    });
    const directory = (): string => {
      const root = mkdtempSync(path.join(tmpdir(), 'range-serve-uploads-'));
      roots.push(root);
      return root;
    };

    /**
     * Starts a server around the tests of one describe block. `h2()`: the server speaks HTTP/2 (raw.ts
     * then sends each request as a stream on one session, a cut is RST_STREAM), where the draft's 104 is sent.
     */
    function serve(setup: (dir: string) => UploadSetup): { url: () => string; dir: () => string; h2: () => boolean } {
      let server: RunningServer | undefined;
      let dir = '';
      before(async () => {
        dir = directory();
        server = await factory(setup(dir));
      });
      after(async () => server?.close());
      return { url: () => (server as RunningServer).baseUrl, dir: () => dir, h2: () => server?.http2 === true };
    }

    /** Skips `t` over HTTP/2, printing why the case has no HTTP/2 form. */
    function onlyHttp1(t: TestContext, h2: boolean, why: string): boolean {
      if (h2) t.skip(`HTTP/1.1 only: ${why}`);
      return h2;
    }

    /** The upload an interim 104 named (its Location), checked to be one of ours. */
    function announced(res: UploadReply): string {
      const interim = res.interim.filter((i) => i.status === 104);
      assert.equal(interim.length, 1, `one 104, got ${JSON.stringify(res.informational)}`);
      const location = String(interim[0]?.headers.location);
      assert.match(location, ID_PATH);
      return location;
    }

    async function createTus(url: string, length: number, extra: Record<string, string> = {}): Promise<string> {
      const res = await send(url, '/files', 'POST', { ...TUS, 'upload-length': String(length), ...extra });
      assert.equal(res.status, 201, res.body.toString());
      const location = res.headers.location ?? '';
      assert.match(location, ID_PATH);
      return location;
    }

    describe('tus 1.0.0 core protocol and extensions', () => {
      const s = serve((dir) => ({ options: { directory: dir, maxSize: '1 MiB', expiresAfter: '1h' } }));

      it('OPTIONS announces the version, extensions, max size, checksum algorithms and the draft limits', async () => {
        const res = await send(s.url(), '/files', 'OPTIONS');
        assert.equal(res.status, 204);
        assert.equal(res.headers['tus-resumable'], '1.0.0');
        assert.equal(res.headers['tus-version'], '1.0.0');
        assert.equal(
          res.headers['tus-extension'],
          'creation,creation-with-upload,creation-defer-length,expiration,checksum,termination,concatenation',
        );
        assert.equal(res.headers['tus-max-size'], String(2 ** 20));
        assert.equal(res.headers['tus-checksum-algorithm'], 'sha1,sha256,sha512,md5');
        assert.equal(res.headers['upload-limit'], `max-size=${2 ** 20}, max-age=3600`);
        assert.equal(res.body.length, 0);
      });

      it('Location is built from the path alone, also for an absolute-form request target', async (t) => {
        if (onlyHttp1(t, s.h2(), 'HTTP/2 has no absolute-form target (:scheme, :authority, :path; RFC 9113 §8.3.1)')) {
          return;
        }
        const { port } = new URL(s.url());
        for (const target of ['http://evil.example/files', 'http://evil.example:8080/files?x=1', '/files']) {
          const res = await new Promise<http.IncomingMessage>((resolve, reject) => {
            const req = http.request({ host: '127.0.0.1', port, method: 'POST', path: target, agent: false });
            req.setHeader('tus-resumable', '1.0.0');
            req.setHeader('upload-length', '3');
            req.on('response', (response) => {
              response.resume();
              resolve(response);
            });
            req.on('error', reject);
            req.end();
          });
          assert.equal(res.statusCode, 201, target);
          assert.match(res.headers.location ?? '', ID_PATH, target);
        }
      });

      it('a request with no upload field at all goes to the next middleware', async () => {
        const location = await createTus(s.url(), 5);
        for (const [method, target, headers] of [
          ['POST', '/files', { 'content-type': 'text/plain' }],
          ['PATCH', location, { 'content-type': 'text/plain' }],
          ['DELETE', location, {}],
          ['PUT', location, {}],
        ] as const) {
          // Node frames a DELETE body only when told its length: this one goes without.
          const res = await send(
            s.url(),
            target,
            method,
            headers,
            method === 'DELETE' ? undefined : Buffer.from('hello'),
          );
          assert.equal(res.status, 404, `${method} ${target}`);
          assert.equal(res.body.toString(), 'fallthrough', `${method} ${target}`);
        }
        assert.equal((await send(s.url(), location, 'HEAD', TUS)).headers['upload-offset'], '0');
      });

      it('a tus request without Tus-Resumable gets 412 with Tus-Version and stores nothing', async () => {
        const location = await createTus(s.url(), 5);
        const before = listUploads(s.dir()).sort();
        for (const [method, target, headers] of [
          ['PATCH', location, { 'content-type': 'application/offset+octet-stream', 'upload-offset': '0' }],
          ['PATCH', location, { 'content-type': 'application/offset+octet-stream' }],
          ['PATCH', location, { 'upload-offset': '0' }],
          ['POST', '/files', { 'upload-length': '5' }],
          ['POST', '/files', { 'upload-defer-length': '1' }],
          ['POST', '/files', { 'upload-length': '5', 'content-type': 'application/offset+octet-stream' }],
        ] as const) {
          const res = await send(s.url(), target, method, headers, Buffer.from('hello'));
          const what = `${method} ${target} ${JSON.stringify(headers)}`;
          assert.equal(res.status, 412, what);
          assert.equal(res.headers['tus-version'], '1.0.0', what);
          assert.equal(res.headers.location, undefined, what);
        }
        const head = await send(s.url(), location, 'HEAD', TUS);
        assert.equal(head.headers['upload-offset'], '0');
        assert.equal(readFileSync(path.join(s.dir(), location.slice('/files/'.length))).length, 0);
        // The refused creations made no upload.
        assert.deepEqual(listUploads(s.dir()).sort(), before);
      });

      it('a CORS preflight for the endpoint or an upload goes to the next middleware', async () => {
        const location = await createTus(s.url(), 5);
        for (const [target, method] of [
          ['/files', 'POST'],
          [location, 'PATCH'],
          [location, 'HEAD'],
        ] as const) {
          const res = await send(s.url(), target, 'OPTIONS', {
            origin: 'https://app.example',
            'access-control-request-method': method,
            'access-control-request-headers': 'tus-resumable,upload-length,upload-offset,content-type',
          });
          assert.equal(res.status, 404, `${target} ${method}`);
          assert.equal(res.body.toString(), 'fallthrough', `${target} ${method}`);
          assert.equal(res.headers['tus-version'], undefined);
        }
      });

      it('OPTIONS ignores Tus-Resumable, as tus asks, and answers an unsupported interop version with 400', async () => {
        for (const headers of [{}, TUS, { 'tus-resumable': '2.0.0' }, { 'tus-resumable': '0.2.2' }]) {
          const res = await send(s.url(), '/files', 'OPTIONS', headers);
          assert.equal(res.status, 204, JSON.stringify(headers));
          assert.equal(res.headers['tus-version'], '1.0.0');
          assert.equal(res.headers['upload-limit'], `max-size=${2 ** 20}, max-age=3600`);
        }
        const v6 = await send(s.url(), '/files', 'OPTIONS', draft(6));
        assert.equal(v6.status, 204);
        assert.equal(v6.headers['upload-limit'], `max-size=${2 ** 20}, expires=3600`);
        for (const headers of [
          draft(9),
          draft(5),
          { 'upload-draft-interop-version': 'eight' },
          { ...TUS, ...draft(9) },
        ]) {
          const res = await send(s.url(), '/files', 'OPTIONS', headers);
          assert.equal(res.status, 400, JSON.stringify(headers));
          assert.match(res.body.toString(), /supported: 6, 7, 8/);
          assert.equal(res.headers['upload-limit'], undefined);
        }
      });

      it('another Tus-Resumable version gets 412 with Tus-Version', async () => {
        const res = await send(s.url(), '/files', 'POST', { 'tus-resumable': '0.2.2', 'upload-length': '5' });
        assert.equal(res.status, 412);
        assert.equal(res.headers['tus-version'], '1.0.0');
      });

      it('creation answers 201 with the full Location, Upload-Expires and offset 0; HEAD reports the state', async () => {
        const before = Date.now();
        const res = await send(s.url(), '/files', 'POST', {
          ...TUS,
          'upload-length': '11',
          'upload-metadata': `filename ${b64('héllo.txt')},filetype ${b64('text/plain')},flag`,
        });
        assert.equal(res.status, 201);
        assert.equal(res.headers['tus-resumable'], '1.0.0');
        assert.match(res.headers.location ?? '', ID_PATH);
        assert.equal(res.headers['upload-offset'], '0');
        const expires = Date.parse(String(res.headers['upload-expires']));
        assert.ok(expires >= Math.floor(before / 1000) * 1000 + 3600_000 - 1000 && expires <= Date.now() + 3600_000);
        const head = await send(s.url(), res.headers.location ?? '', 'HEAD', TUS);
        assert.equal(head.status, 200);
        assert.equal(head.headers['upload-offset'], '0');
        assert.equal(head.headers['upload-length'], '11');
        assert.equal(head.headers['cache-control'], 'no-store');
        assert.equal(head.headers['tus-resumable'], '1.0.0');
        assert.equal(
          head.headers['upload-metadata'],
          `filename ${b64('héllo.txt')},filetype ${b64('text/plain')},flag`,
        );
        assert.equal(head.body.length, 0);
      });

      it('creation without a length, with both lengths, or with bad metadata is a 400', async () => {
        for (const headers of [
          {},
          { 'upload-length': '5', 'upload-defer-length': '1' },
          { 'upload-length': '-1' },
          { 'upload-length': '5', 'upload-metadata': 'name not*base64' },
          { 'upload-length': '5', 'upload-metadata': 'name YQ' },
          { 'upload-length': '5', 'upload-metadata': 'a YQ==,a YQ==' },
        ]) {
          const res = await send(s.url(), '/files', 'POST', { ...TUS, ...headers });
          assert.equal(res.status, 400, JSON.stringify(headers));
        }
      });

      it('an Upload-Length over Tus-Max-Size is a 413', async () => {
        const res = await send(s.url(), '/files', 'POST', { ...TUS, 'upload-length': String(2 ** 20 + 1) });
        assert.equal(res.status, 413);
      });

      it('PATCH appends at the offset: 415 for another type, 409 for another offset, 204 with the new offset', async () => {
        const location = await createTus(s.url(), 11);
        const wrongType = await send(
          s.url(),
          location,
          'PATCH',
          { ...TUS, 'upload-offset': '0', 'content-type': 'text/plain' },
          Buffer.from('hello'),
        );
        assert.equal(wrongType.status, 415);
        const patch = { ...TUS, 'content-type': 'application/offset+octet-stream' };
        const first = await send(s.url(), location, 'PATCH', { ...patch, 'upload-offset': '0' }, Buffer.from('hello'));
        assert.equal(first.status, 204);
        assert.equal(first.headers['upload-offset'], '5');
        assert.equal(first.headers['tus-resumable'], '1.0.0');
        assert.ok(first.headers['upload-expires']);
        const stale = await send(s.url(), location, 'PATCH', { ...patch, 'upload-offset': '0' }, Buffer.from('hello'));
        assert.equal(stale.status, 409);
        assert.equal(stale.headers['upload-offset'], '5');
        const last = await send(s.url(), location, 'PATCH', { ...patch, 'upload-offset': '5' }, Buffer.from(' world'));
        assert.equal(last.status, 204);
        assert.equal(last.headers['upload-offset'], '11');
        const got = await send(s.url(), location, 'GET');
        assert.equal(got.status, 200);
        assert.equal(got.body.toString(), 'hello world');
        const empty = await send(s.url(), location, 'PATCH', { ...patch, 'upload-offset': '11' }, Buffer.alloc(0));
        assert.equal(empty.status, 204);
        assert.equal(empty.headers['upload-offset'], '11');
        const more = await send(
          s.url(),
          location,
          'PATCH',
          { ...patch, 'upload-offset': '11', 'transfer-encoding': 'chunked' },
          [Buffer.from('!')],
        );
        assert.equal(more.status, 413);
        assert.equal((await send(s.url(), location, 'GET')).body.toString(), 'hello world');
      });

      it('a Content-Length past Upload-Length is a 413 before any byte is read', async () => {
        const location = await createTus(s.url(), 4);
        const patch = { ...TUS, 'content-type': 'application/offset+octet-stream', 'upload-offset': '0' };
        const declared = await send(s.url(), location, 'PATCH', patch, Buffer.from('123456'));
        assert.equal(declared.status, 413);
        const head = await send(s.url(), location, 'HEAD', TUS);
        assert.equal(head.headers['upload-offset'], '0');
      });

      it('a body streaming past Upload-Length completes the upload with exactly the bytes up to the length', async () => {
        const location = await createTus(s.url(), 5);
        const patch = { ...TUS, 'content-type': 'application/offset+octet-stream', 'upload-offset': '0' };
        // Chunked, so that only the streamed count can catch it.
        const streamed = await send(s.url(), location, 'PATCH', { ...patch, 'transfer-encoding': 'chunked' }, [
          Buffer.from('hel'),
          Buffer.from('loEXTRA'),
        ]);
        assert.equal(streamed.status, 204);
        assert.equal(streamed.headers['upload-offset'], '5');
        const got = await send(s.url(), location, 'GET');
        assert.equal(got.status, 200);
        assert.equal(got.body.toString(), 'hello');
        // The same for creation-with-upload: the finished upload's Location, its bytes up to the length.
        const created = await send(
          s.url(),
          '/files',
          'POST',
          {
            ...TUS,
            'upload-length': '5',
            'content-type': 'application/offset+octet-stream',
            'transfer-encoding': 'chunked',
          },
          [Buffer.from('wor'), Buffer.from('ldEXTRA')],
        );
        assert.equal(created.status, 201);
        assert.equal(created.headers['upload-offset'], '5');
        assert.equal((await send(s.url(), created.headers.location ?? '', 'GET')).body.toString(), 'world');
      });

      it('a creation refused with a 4xx leaves no upload behind', async () => {
        const before = listUploads(s.dir()).sort();
        const sha1 = (text: string) => `sha1 ${createHash('sha1').update(text).digest('base64')}`;
        const checksum = await send(
          s.url(),
          '/files',
          'POST',
          {
            ...TUS,
            'upload-length': '10',
            'content-type': 'application/offset+octet-stream',
            'upload-checksum': sha1('other bytes'),
          },
          Buffer.from('hello'),
        );
        assert.equal(checksum.status, 460);
        assert.equal(checksum.headers.location, undefined);
        // Streaming past maxSize (1 MiB here) with a deferred length.
        const tooLarge = await send(
          s.url(),
          '/files',
          'POST',
          {
            ...TUS,
            'upload-defer-length': '1',
            'content-type': 'application/offset+octet-stream',
            'transfer-encoding': 'chunked',
          },
          [Buffer.alloc(700_000, 1), Buffer.alloc(700_000, 2)],
        );
        assert.equal(tooLarge.status, 413);
        assert.deepEqual(listUploads(s.dir()).sort(), before);
      });

      it('creation-with-upload stores the content of the POST', async () => {
        const res = await send(
          s.url(),
          '/files',
          'POST',
          { ...TUS, 'upload-length': '10', 'content-type': 'application/offset+octet-stream' },
          Buffer.from('0123'),
        );
        assert.equal(res.status, 201);
        // The 104 is the draft's alone: tus gets none, over HTTP/2 either.
        assert.deepEqual(res.informational, []);
        assert.equal(res.headers['upload-offset'], '4');
        const head = await send(s.url(), res.headers.location ?? '', 'HEAD', TUS);
        assert.equal(head.headers['upload-offset'], '4');
      });

      it('creation-with-upload that brings every byte answers 201 with the Location of the finished upload', async () => {
        const res = await send(
          s.url(),
          '/files',
          'POST',
          { ...TUS, 'upload-length': '4', 'content-type': 'application/offset+octet-stream' },
          Buffer.from('full'),
        );
        assert.equal(res.status, 201);
        assert.match(res.headers.location ?? '', ID_PATH);
        assert.equal(res.headers['upload-offset'], '4');
        assert.equal((await send(s.url(), res.headers.location ?? '', 'GET')).body.toString(), 'full');
      });

      it('a GET without a protocol field never takes over an append in progress', async () => {
        const location = await createTus(s.url(), 200);
        const headers = {
          ...TUS,
          'content-type': 'application/offset+octet-stream',
          'upload-offset': '0',
          'content-length': '200',
        };
        const open = await openRequest(s.url(), location, 'PATCH', headers, Buffer.alloc(100, 4));
        await pause(50);
        const got = await send(s.url(), location, 'GET');
        assert.equal(got.status, 404);
        await open.write(Buffer.alloc(100, 5));
        const reply = await open.reply;
        assert.equal(reply?.status, 204);
        assert.equal(reply?.headers['upload-offset'], '200');
      });

      it('an upload of length 0 is complete once created', async () => {
        const res = await send(s.url(), '/files', 'POST', { ...TUS, 'upload-length': '0' });
        assert.equal(res.status, 201);
        assert.match(res.headers.location ?? '', ID_PATH);
        assert.equal(res.headers['upload-offset'], '0');
        const got = await send(s.url(), res.headers.location ?? '', 'GET');
        assert.equal(got.status, 200);
        assert.equal(got.body.length, 0);
        assert.equal(got.headers['repr-digest'], `sha-256=:${createHash('sha256').digest('base64')}:`);
      });

      it('creation-defer-length: Upload-Defer-Length: 1 until a PATCH gives Upload-Length', async () => {
        const res = await send(s.url(), '/files', 'POST', { ...TUS, 'upload-defer-length': '1' });
        assert.equal(res.status, 201);
        const location = res.headers.location ?? '';
        const head = await send(s.url(), location, 'HEAD', TUS);
        assert.equal(head.headers['upload-defer-length'], '1');
        assert.equal(head.headers['upload-length'], undefined);
        const patch = { ...TUS, 'content-type': 'application/offset+octet-stream' };
        const first = await send(s.url(), location, 'PATCH', { ...patch, 'upload-offset': '0' }, Buffer.from('abc'));
        assert.equal(first.headers['upload-offset'], '3');
        const last = await send(
          s.url(),
          location,
          'PATCH',
          { ...patch, 'upload-offset': '3', 'upload-length': '5' },
          Buffer.from('de'),
        );
        assert.equal(last.status, 204);
        const changed = await send(
          s.url(),
          location,
          'PATCH',
          { ...patch, 'upload-offset': '5', 'upload-length': '6' },
          Buffer.alloc(0),
        );
        assert.equal(changed.status, 400);
        const got = await send(s.url(), location, 'GET');
        assert.equal(got.body.toString(), 'abcde');
      });

      it('checksum: a matching sha1 or sha256 is stored, a mismatch is a 460 whose bytes are not kept', async () => {
        const location = await createTus(s.url(), 10);
        const patch = { ...TUS, 'content-type': 'application/offset+octet-stream' };
        const digest = (algorithm: string, text: string) => createHash(algorithm).update(text).digest('base64');
        const good = await send(
          s.url(),
          location,
          'PATCH',
          { ...patch, 'upload-offset': '0', 'upload-checksum': `sha1 ${digest('sha1', 'abcde')}` },
          Buffer.from('abcde'),
        );
        assert.equal(good.status, 204);
        assert.equal(good.headers['upload-offset'], '5');
        const bad = await send(
          s.url(),
          location,
          'PATCH',
          { ...patch, 'upload-offset': '5', 'upload-checksum': `sha256 ${digest('sha256', 'XXXXX')}` },
          Buffer.from('fghij'),
        );
        assert.equal(bad.status, 460);
        const head = await send(s.url(), location, 'HEAD', TUS);
        assert.equal(head.headers['upload-offset'], '5');
        const unknown = await send(
          s.url(),
          location,
          'PATCH',
          { ...patch, 'upload-offset': '5', 'upload-checksum': `crc32 AAAAAA==` },
          Buffer.from('fghij'),
        );
        assert.equal(unknown.status, 400);
        const sha256 = await send(
          s.url(),
          location,
          'PATCH',
          { ...patch, 'upload-offset': '5', 'upload-checksum': `sha256 ${digest('sha256', 'fghij')}` },
          Buffer.from('fghij'),
        );
        assert.equal(sha256.status, 204);
        assert.equal((await send(s.url(), location, 'GET')).body.toString(), 'abcdefghij');
      });

      it('termination: DELETE answers 204 and the upload is then unknown', async () => {
        const location = await createTus(s.url(), 10);
        const del = await send(s.url(), location, 'DELETE', TUS);
        assert.equal(del.status, 204);
        assert.equal(del.headers['tus-resumable'], '1.0.0');
        const head = await send(s.url(), location, 'HEAD', TUS);
        assert.equal(head.status, 404);
        assert.equal(head.headers['upload-offset'], undefined);
      });

      it('an id off the strict pattern is unknown and touches no file', async () => {
        for (const target of [
          '/files/abc',
          '/files/..%2F..%2Fetc',
          `/files/${'A'.repeat(21)}.`,
          `/files/${'A'.repeat(22)}`,
        ]) {
          const res = await send(s.url(), target, 'HEAD', TUS);
          assert.equal(res.status, 404, target);
        }
      });

      it('a client that disconnects mid-body keeps every byte that arrived', async () => {
        const location = await createTus(s.url(), 1000);
        const open = await openRequest(
          s.url(),
          location,
          'PATCH',
          { ...TUS, 'content-type': 'application/offset+octet-stream', 'upload-offset': '0', 'content-length': '1000' },
          Buffer.alloc(300, 1),
        );
        await pause(150);
        open.cut();
        assert.equal(await open.reply, null);
        await pause(100);
        const head = await send(s.url(), location, 'HEAD', TUS);
        assert.equal(head.headers['upload-offset'], '300');
      });

      it('a second append takes over: the first is ended, its bytes kept, the second checked against them', async () => {
        const location = await createTus(s.url(), 1000);
        const headers = { ...TUS, 'content-type': 'application/offset+octet-stream', 'content-length': '1000' };
        const first = await openRequest(
          s.url(),
          location,
          'PATCH',
          { ...headers, 'upload-offset': '0' },
          Buffer.alloc(400, 2),
        );
        await pause(150);
        const stale = await send(
          s.url(),
          location,
          'PATCH',
          { ...headers, 'content-length': '600', 'upload-offset': '0' },
          Buffer.alloc(600, 3),
        );
        assert.equal(stale.status, 409);
        assert.equal(stale.headers['upload-offset'], '400');
        const ended = await first.reply;
        if (host.takenOverAnswered === true) {
          assert.equal(ended?.status, 409);
          assert.equal(ended.body.toString(), 'Another request took this upload over');
        } else {
          assert.equal(ended, null);
        }
        const rest = await send(
          s.url(),
          location,
          'PATCH',
          { ...headers, 'content-length': '600', 'upload-offset': '400' },
          Buffer.alloc(600, 3),
        );
        assert.equal(rest.status, 204);
        const got = await send(s.url(), location, 'GET');
        assert.deepEqual(got.body, Buffer.concat([Buffer.alloc(400, 2), Buffer.alloc(600, 3)]));
      });
    });

    describe('tus concatenation: parallel parts', () => {
      const s = serve((dir) => ({ options: { directory: dir, maxSize: '1 MiB', expiresAfter: '1h' } }));
      const PATCH = { ...TUS, 'content-type': 'application/offset+octet-stream' };

      /** A partial upload holding `bytes`, created with them (creation-with-upload). */
      async function partial(bytes: Buffer): Promise<string> {
        const res = await send(
          s.url(),
          '/files',
          'POST',
          { ...PATCH, 'upload-concat': 'partial', 'upload-length': String(bytes.length) },
          bytes,
        );
        assert.equal(res.status, 201, res.body.toString());
        assert.equal(res.headers['upload-offset'], String(bytes.length));
        return res.headers.location ?? '';
      }

      /** A POST of a final upload with `Upload-Concat: value`. */
      function final(value: string, extra: Record<string, string> = {}) {
        return send(s.url(), '/files', 'POST', { ...TUS, 'upload-concat': value, ...extra });
      }

      it('a partial upload is an ordinary upload (defer-length, checksum, expiry) whose HEAD says Upload-Concat: partial', async () => {
        const deferred = await send(s.url(), '/files', 'POST', {
          ...TUS,
          'upload-concat': 'partial',
          'upload-defer-length': '1',
        });
        assert.equal(deferred.status, 201);
        const location = deferred.headers.location ?? '';
        const wrong = await send(
          s.url(),
          location,
          'PATCH',
          {
            ...PATCH,
            'upload-offset': '0',
            'upload-checksum': `sha1 ${createHash('sha1').update('nope').digest('base64')}`,
          },
          Buffer.from('hello'),
        );
        assert.equal(wrong.status, 460);
        const done = await send(
          s.url(),
          location,
          'PATCH',
          {
            ...PATCH,
            'upload-offset': '0',
            'upload-length': '5',
            'upload-checksum': `sha1 ${createHash('sha1').update('hello').digest('base64')}`,
          },
          Buffer.from('hello'),
        );
        assert.equal(done.status, 204);
        assert.equal(done.headers['upload-offset'], '5');
        const head = await send(s.url(), location, 'HEAD', TUS);
        assert.equal(head.status, 200);
        assert.equal(head.headers['upload-concat'], 'partial');
        assert.equal(head.headers['upload-offset'], '5');
        assert.equal(head.headers['upload-length'], '5');
        // Complete, it still expires: a piece kept for a final upload that may never come.
        assert.match(String(head.headers['upload-expires']), /GMT$/);
        // Only ever served inside its final upload.
        assert.equal((await send(s.url(), location, 'GET')).status, 404);
      });

      it('a final upload is its partials in list order: 201, HEAD with Upload-Concat as received, downloads across parts with ranges and its digest', async () => {
        const parts = [randomBytes(1000), randomBytes(1), randomBytes(4000), randomBytes(2500)];
        const locations = await Promise.all(parts.map((bytes) => partial(bytes)));
        const whole = Buffer.concat(parts);
        // Paths and same-origin absolute URLs may be mixed, as the spec allows.
        const references = [locations[0], `${s.url()}${locations[1]}`, locations[2], `${s.url()}${locations[3]}`];
        const value = `final;${references.join(' ')}`;
        const metadata = `filename ${b64('whole.bin')},filetype ${b64('application/octet-stream')}`;
        const created = await final(value, { 'upload-metadata': metadata });
        assert.equal(created.status, 201, created.body.toString());
        assert.equal(created.headers['tus-resumable'], '1.0.0');
        assert.equal(created.headers['upload-offset'], String(whole.length));
        const location = created.headers.location ?? '';
        assert.match(location, ID_PATH);
        const head = await send(s.url(), location, 'HEAD', TUS);
        assert.equal(head.status, 200);
        assert.equal(head.headers['upload-concat'], value);
        assert.equal(head.headers['upload-offset'], String(whole.length));
        assert.equal(head.headers['upload-length'], String(whole.length));
        assert.equal(head.headers['upload-metadata'], metadata);
        assert.equal(head.headers['upload-expires'], undefined);
        const got = await send(s.url(), location, 'GET');
        assert.equal(got.status, 200);
        assert.ok(got.body.equals(whole), 'the final upload differs from its parts in order');
        assert.equal(got.headers['content-disposition'], 'attachment; filename="whole.bin"');
        assert.match(got.headers.etag ?? '', /^"[0-9a-f]+-[A-Za-z0-9_-]{22}"$/);
        // A range across the boundary of three parts, and a multipart of two.
        const across = await send(s.url(), location, 'GET', { range: 'bytes=990-5010', 'if-range': got.headers.etag });
        assert.equal(across.status, 206);
        assert.equal(across.headers['content-range'], `bytes 990-5010/${whole.length}`);
        assert.ok(across.body.equals(whole.subarray(990, 5011)));
        const multi = await send(s.url(), location, 'GET', { range: 'bytes=0-9,1000-1000' });
        assert.equal(multi.status, 206);
        assert.match(multi.headers['content-type'] ?? '', /^multipart\/byteranges; boundary=/);
        assert.ok(multi.body.includes(whole.subarray(0, 10)));
        const stale = await send(s.url(), location, 'GET', { range: 'bytes=0-9', 'if-range': '"other"' });
        assert.equal(stale.status, 200);
        assert.equal((await send(s.url(), location, 'GET', { 'if-none-match': got.headers.etag })).status, 304);
        // The SHA-256 is taken after the final was answered; bounded wait for it.
        const digest = `sha-256=:${createHash('sha256').update(whole).digest('base64')}:`;
        let reprDigest = got.headers['repr-digest'];
        for (let i = 0; i < 50 && reprDigest === undefined; i++) {
          await pause(20);
          reprDigest = (await send(s.url(), location, 'HEAD')).headers['repr-digest'];
        }
        assert.equal(reprDigest, digest);
      });

      it('the same partial named twice is its bytes twice (tus: it "MAY be present multiple times")', async () => {
        const a = await partial(Buffer.from('ab'));
        const b = await partial(Buffer.from('cd'));
        const created = await final(`final;${a} ${b} ${a}`);
        assert.equal(created.status, 201, created.body.toString());
        const got = await send(s.url(), created.headers.location ?? '', 'GET');
        assert.equal(got.body.toString(), 'abcdab');
        // A partial may go into several final uploads.
        const again = await final(`final;${b} ${a}`);
        assert.equal((await send(s.url(), again.headers.location ?? '', 'GET')).body.toString(), 'cdab');
      });

      it('PATCH to a final upload is 403 and changes nothing', async () => {
        const a = await partial(Buffer.from('final'));
        const location = (await final(`final;${a}`)).headers.location ?? '';
        for (const offset of ['5', '0']) {
          const res = await send(
            s.url(),
            location,
            'PATCH',
            { ...PATCH, 'upload-offset': offset },
            Buffer.from('more'),
          );
          assert.equal(res.status, 403);
          assert.equal(res.headers['tus-resumable'], '1.0.0');
        }
        assert.equal((await send(s.url(), location, 'GET')).body.toString(), 'final');
      });

      it('DELETE of a final upload leaves its partials; DELETE of a partial leaves a final made of it whole', async () => {
        const a = await partial(Buffer.from('left'));
        const b = await partial(Buffer.from('right'));
        const first = (await final(`final;${a} ${b}`)).headers.location ?? '';
        const second = (await final(`final;${b} ${a}`)).headers.location ?? '';
        assert.equal((await send(s.url(), first, 'DELETE', TUS)).status, 204);
        assert.equal((await send(s.url(), first, 'HEAD', TUS)).status, 404);
        assert.equal((await send(s.url(), a, 'HEAD', TUS)).headers['upload-offset'], '4');
        assert.equal((await send(s.url(), a, 'DELETE', TUS)).status, 204);
        assert.equal((await send(s.url(), b, 'DELETE', TUS)).status, 204);
        assert.equal((await send(s.url(), second, 'GET')).body.toString(), 'rightleft');
        assert.equal((await send(s.url(), second, 'DELETE', TUS)).status, 204);
        const id = second.slice('/files/'.length);
        assert.deepEqual(
          readdirSync(s.dir()).filter((name) => name.startsWith(id)),
          [],
          'the final left files behind',
        );
      });

      it('unfinished partial uploads are refused with 400 naming each, and nothing is created', async () => {
        const done = await partial(Buffer.from('done'));
        const half = await send(
          s.url(),
          '/files',
          'POST',
          { ...PATCH, 'upload-concat': 'partial', 'upload-length': '10' },
          Buffer.from('12345'),
        );
        const none = await send(s.url(), '/files', 'POST', {
          ...TUS,
          'upload-concat': 'partial',
          'upload-defer-length': '1',
        });
        const [halfway, deferred] = [half.headers.location ?? '', none.headers.location ?? ''];
        const before = uploadFiles(s.dir());
        const res = await final(`final;${done} ${halfway} ${deferred}`);
        assert.equal(res.status, 400);
        assert.equal(
          res.body.toString(),
          `Upload-Concat: these partial uploads are not complete: ${halfway} (5 of 10), ${deferred} (0 of a deferred length)`,
        );
        assert.deepEqual(uploadFiles(s.dir()), before);
      });

      it('a bad list is refused with a 4xx naming the reference, and nothing is created', async () => {
        const a = await partial(Buffer.from('aaaa'));
        const id = a.slice('/files/'.length);
        const plain = await createTus(s.url(), 0);
        const finished = (await final(`final;${a}`)).headers.location ?? '';
        const unknown = `/files/${'U'.repeat(22)}`;
        const { port, protocol } = new URL(s.url());
        // The same host and port under the other scheme: another origin (over HTTP/2 the server is https).
        const other = protocol === 'https:' ? 'http' : 'https';
        const before = uploadFiles(s.dir());
        for (const [value, extra, status, message] of [
          [`final;http://evil.example${a}`, {}, 400, `http://evil.example${a} is on another origin`],
          [`final;${other}://127.0.0.1:${port}${a}`, {}, 400, `${other}://127.0.0.1:${port}${a} is on another origin`],
          [
            `final;//127.0.0.1:${port}${a}`,
            {},
            400,
            `//127.0.0.1:${port}${a} is a network-path reference (another host)`,
          ],
          [`final;/other/${id}`, {}, 400, `/other/${id} is not an upload of this endpoint`],
          [`final;${id}`, {}, 400, `${id} is a relative reference: send the path from the root or the whole URL`],
          [`final;/files/../files/${id}`, {}, 400, `/files/../files/${id} has dot segments`],
          [`final;/files/./${id}`, {}, 400, `/files/./${id} has dot segments`],
          [`final;${s.url()}/x/../files/${id}`, {}, 400, `${s.url()}/x/../files/${id} has dot segments`],
          [`final;/files%2F${id}`, {}, 400, `/files%2F${id} has percent-encoding, a backslash, a query or a fragment`],
          [
            `final;/files/${id}%2e`,
            {},
            400,
            `/files/${id}%2e has percent-encoding, a backslash, a query or a fragment`,
          ],
          [`final;/files\\${id}`, {}, 400, `/files\\${id} has percent-encoding, a backslash, a query or a fragment`],
          [`final;${a}?x=1`, {}, 400, `${a}?x=1 has percent-encoding, a backslash, a query or a fragment`],
          [`final;${unknown}`, {}, 400, `${unknown} names no upload`],
          [`final;${plain}`, {}, 400, `${plain} is not a partial upload`],
          [`final;${finished}`, {}, 400, `${finished} is not a partial upload`],
          ['final;', {}, 400, 'final names no partial upload'],
          // HTTP/2 forbids whitespace around a field value (RFC 9113 §8.2.1): nghttp2 drops the field.
          ...(s.h2() ? [] : ([['final; ', {}, 400, 'final names no partial upload']] as const)),
          [
            `final;${Array.from({ length: 101 }, () => a).join(' ')}`,
            {},
            400,
            'final names 101 partial uploads; at most 100 are allowed',
          ],
          ['partial;', {}, 400, undefined],
          ['whole', {}, 400, undefined],
          [`final;${a}`, { 'upload-length': '4' }, 400, undefined],
          [`final;${a}`, { 'upload-defer-length': '1' }, 400, undefined],
        ] as const) {
          const res = await final(value, extra);
          const what = `${value} ${JSON.stringify(extra)}`;
          assert.equal(res.status, status, what);
          assert.equal(res.headers['tus-resumable'], '1.0.0', what);
          assert.equal(res.headers.location, undefined, what);
          if (message !== undefined) assert.equal(res.body.toString(), `Upload-Concat: ${message}`, what);
        }
        const withContent = await send(
          s.url(),
          '/files',
          'POST',
          { ...PATCH, 'upload-concat': `final;${a}` },
          Buffer.from('x'),
        );
        assert.equal(withContent.status, 400);
        assert.equal(withContent.body.toString(), 'A final upload takes no content');
        assert.deepEqual(uploadFiles(s.dir()), before);
      });

      it('parts adding up to more than maxSize are a 413, nothing created', async () => {
        const big = await partial(Buffer.alloc(700 * 1024, 1));
        const before = uploadFiles(s.dir());
        const res = await final(`final;${big} ${big}`);
        assert.equal(res.status, 413);
        assert.equal(res.headers['tus-resumable'], '1.0.0');
        assert.deepEqual(uploadFiles(s.dir()), before);
      });

      it('tus-js-client with parallelUploads: 4 stores the file byte for byte', async (t) => {
        if (onlyHttp1(t, s.h2(), "tus-js-client's Node transport speaks HTTP/1.1 only")) return;
        const content = randomBytes(300 * 1024 + 7);
        const url = await new Promise<string>((resolve, reject) => {
          const upload = new tus.Upload(content, {
            endpoint: `${s.url()}/files`,
            parallelUploads: 4,
            metadata: { filename: 'parallel.bin' },
            retryDelays: [],
            onError: reject,
            onSuccess: () => resolve(upload.url ?? ''),
          });
          upload.start();
        });
        const location = new URL(url).pathname;
        const head = await send(s.url(), location, 'HEAD', TUS);
        assert.match(String(head.headers['upload-concat']), /^final;(\S+ ){3}\S+$/);
        const got = await send(s.url(), location, 'GET');
        assert.ok(got.body.equals(content));
      });
    });

    describe('connections, timeouts and descriptors', () => {
      const s = serve((dir) => ({ options: { directory: dir, maxSize: 1000, idleTimeout: 200 } }));

      it('a whole upload runs on one kept-alive connection', async (t) => {
        if (onlyHttp1(t, s.h2(), 'HTTP/2 has no keep-alive: every request here is a stream on one session')) return;
        const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
        try {
          const sockets = new Set<unknown>();
          agent.on('free', (socket) => sockets.add(socket));
          const created = await send(s.url(), '/files', 'POST', { ...TUS, 'upload-length': '6' }, undefined, agent);
          const location = created.headers.location ?? '';
          const head = await send(s.url(), location, 'HEAD', TUS, undefined, agent);
          const patch = await send(
            s.url(),
            location,
            'PATCH',
            { ...TUS, 'content-type': 'application/offset+octet-stream', 'upload-offset': '0' },
            Buffer.from('abcdef'),
            agent,
          );
          for (const res of [created, head, patch]) assert.equal(res.headers.connection, 'keep-alive');
          assert.equal(patch.status, 204);
          assert.equal(sockets.size, 1);
        } finally {
          agent.destroy();
        }
      });

      it('a body that stops arriving is ended after idleTimeout with a 408, its bytes kept', async () => {
        const location = await createTus(s.url(), 500);
        const open = await openRequest(
          s.url(),
          location,
          'PATCH',
          { ...TUS, 'content-type': 'application/offset+octet-stream', 'upload-offset': '0', 'content-length': '500' },
          Buffer.alloc(120, 5),
        );
        const reply = await open.reply;
        assert.equal(reply?.status, 408);
        open.cut();
        const head = await send(s.url(), location, 'HEAD', TUS);
        assert.equal(head.headers['upload-offset'], '120');
      });

      it('a draft body streaming past max-size is a 413 with Upload-Limit and stores none of its bytes', async () => {
        const created = await send(s.url(), '/files', 'POST', { ...draft(8), 'upload-complete': '?0' });
        const location = created.headers.location ?? '';
        const res = await send(
          s.url(),
          location,
          'PATCH',
          {
            ...draft(8),
            'content-type': 'application/partial-upload',
            'upload-offset': '0',
            'upload-complete': '?0',
            'transfer-encoding': 'chunked',
          },
          [Buffer.alloc(600, 1), Buffer.alloc(600, 2)],
        );
        assert.equal(res.status, 413);
        assert.equal(res.headers['upload-complete'], '?0');
        assert.match(String(res.headers['upload-limit']), /^max-size=1000, max-age=(86400|86399)$/);
        const head = await send(s.url(), location, 'HEAD', draft(8));
        assert.equal(head.headers['upload-offset'], '0');
        assert.equal(readFileSync(path.join(s.dir(), location.slice('/files/'.length))).length, 0);
      });

      it('a client that disconnects mid-body leaves no open descriptor', async (t) => {
        if (process.platform !== 'linux') {
          t.skip('counting descriptors needs /proc/self/fd (Linux)');
          return;
        }
        const count = (): number => readdirSync('/proc/self/fd').length;
        const location = await createTus(s.url(), 900);
        const cutOnce = async (fill: number): Promise<void> => {
          const head = await send(s.url(), location, 'HEAD', TUS);
          const offset = Number(head.headers['upload-offset']);
          const headers = {
            ...TUS,
            'content-type': 'application/offset+octet-stream',
            'upload-offset': String(offset),
            'content-length': '100',
          };
          const open = await openRequest(s.url(), location, 'PATCH', headers, Buffer.alloc(50, fill));
          await pause(30);
          open.cut();
          await open.reply;
        };
        await cutOnce(9); // a first round, so that descriptors the runtime opens lazily are in the baseline
        await pause(100);
        const baseline = count();
        for (let i = 0; i < 5; i++) await cutOnce(i);
        // Sockets close asynchronously: wait (bounded) for the count to come back; a leak never does.
        for (let i = 0; i < 40 && count() > baseline; i++) await pause(50);
        assert.equal(count(), baseline);
      });

      it('a data file replaced by a symbolic link is never followed', async () => {
        const location = await createTus(s.url(), 3);
        const done = await send(
          s.url(),
          location,
          'PATCH',
          { ...TUS, 'content-type': 'application/offset+octet-stream', 'upload-offset': '0' },
          Buffer.from('abc'),
        );
        assert.equal(done.status, 204);
        const outside = path.join(directory(), 'canary.txt');
        writeFileSync(outside, 'CANARY');
        const data = path.join(s.dir(), location.slice('/files/'.length));
        unlinkSync(data);
        symlinkSync(outside, data);
        const res = await send(s.url(), location, 'GET');
        assert.equal(res.status, 500);
        assert.equal(res.body.includes('CANARY'), false);
        // An unfinished upload whose data file became a link: the append is refused, the target untouched.
        const unfinished = await createTus(s.url(), 6);
        const linked = path.join(s.dir(), unfinished.slice('/files/'.length));
        unlinkSync(linked);
        symlinkSync(outside, linked);
        const patch = { ...TUS, 'content-type': 'application/offset+octet-stream', 'upload-offset': '0' };
        const append = await send(s.url(), unfinished, 'PATCH', patch, Buffer.from('EVIL!!'));
        assert.equal(append.status, 500);
        assert.equal(readFileSync(outside, 'utf8'), 'CANARY');
      });
    });

    describe('bounds on what a client can make the server hold', () => {
      const s = serve((dir) => ({
        options: { directory: dir, maxUploads: 3, idleTimeout: 400, minRate: 1000 },
      }));

      it('Upload-Metadata beyond maxMetadataSize (default 4 KiB) is a 431 and creates nothing', async () => {
        const before = listUploads(s.dir()).sort();
        // 'k ' plus base64: 4,096 bytes in all is the most allowed.
        const fits = `k ${'A'.repeat(4092)}`;
        const over = `k ${'A'.repeat(4096)}`;
        const tusOver = await send(s.url(), '/files', 'POST', {
          ...TUS,
          'upload-length': '1',
          'upload-metadata': over,
        });
        assert.equal(tusOver.status, 431);
        assert.equal(tusOver.headers['tus-resumable'], '1.0.0');
        const draftOver = await send(s.url(), '/files', 'POST', {
          ...draft(8),
          'upload-complete': '?0',
          'content-disposition': `attachment; filename="${'a'.repeat(4100)}.txt"`,
        });
        assert.equal(draftOver.status, 431);
        assert.deepEqual(listUploads(s.dir()).sort(), before);
        const ok = await send(s.url(), '/files', 'POST', { ...TUS, 'upload-length': '1', 'upload-metadata': fits });
        assert.equal(ok.status, 201);
        assert.equal((await send(s.url(), ok.headers.location ?? '', 'DELETE', TUS)).status, 204);
      });

      it('beyond maxUploads unfinished uploads a creation gets 503 with Retry-After; finished ones do not count', async () => {
        const made = [await createTus(s.url(), 1), await createTus(s.url(), 1), await createTus(s.url(), 2)];
        const refused = await send(s.url(), '/files', 'POST', { ...TUS, 'upload-length': '1' });
        assert.equal(refused.status, 503);
        assert.equal(refused.headers['retry-after'], '60');
        assert.equal(refused.headers['tus-resumable'], '1.0.0');
        const full = await send(
          s.url(),
          made[0] ?? '',
          'PATCH',
          { ...TUS, 'content-type': 'application/offset+octet-stream', 'upload-offset': '0' },
          Buffer.from('x'),
        );
        assert.equal(full.status, 204);
        const now = await send(s.url(), '/files', 'POST', { ...TUS, 'upload-length': '1' });
        assert.equal(now.status, 201);
        for (const location of [...made.slice(1), now.headers.location ?? '']) {
          assert.equal((await send(s.url(), location, 'DELETE', TUS)).status, 204);
        }
      });

      it('a body trickling just under idleTimeout is ended once it falls below minRate, its bytes kept', async () => {
        const location = await createTus(s.url(), 1000);
        const started = Date.now();
        const open = await openRequest(
          s.url(),
          location,
          'PATCH',
          { ...TUS, 'content-type': 'application/offset+octet-stream', 'upload-offset': '0', 'content-length': '1000' },
          Buffer.from('a'),
        );
        // One byte every 300 ms: never idle for 400 ms, far below 1,000 bytes a second.
        let stop = false;
        const trickle = (async () => {
          for (let i = 0; i < 30 && !stop; i++) {
            await pause(300);
            await open.write(Buffer.from('b')).catch(() => {});
          }
        })();
        const reply = await open.reply;
        stop = true;
        const elapsed = Date.now() - started;
        assert.equal(reply?.status, 408);
        assert.ok(elapsed < 3000, `ended after ${elapsed} ms`);
        open.cut();
        await trickle;
        const head = await send(s.url(), location, 'HEAD', TUS);
        const kept = Number(head.headers['upload-offset']);
        assert.ok(kept >= 1 && kept <= 10, `kept ${kept} bytes`);
        assert.equal((await send(s.url(), location, 'DELETE', TUS)).status, 204);
      });
    });

    describe('expiry swept by the timer', () => {
      const s = serve((dir) => ({ options: { directory: dir, expiresAfter: 300, sweepInterval: 100 } }));

      it('an upload idle past expiresAfter has its files swept and is then unknown', async () => {
        const location = await createTus(s.url(), 10);
        const id = location.slice('/files/'.length);
        assert.ok(listUploads(s.dir()).includes(id));
        // Bounded wait for the sweep (every 100 ms) after the expiry (300 ms).
        for (let i = 0; i < 40 && listUploads(s.dir()).includes(id); i++) await pause(50);
        assert.deepEqual(
          listUploads(s.dir()).filter((name) => name.startsWith(id)),
          [],
        );
        const head = await send(s.url(), location, 'HEAD', TUS);
        assert.equal(head.status, 404);
      });
    });

    describe('expiry of partial uploads', () => {
      const s = serve((dir) => ({ options: { directory: dir, expiresAfter: 300, sweepInterval: '1h' } }));

      it('a complete partial expires like an unfinished upload; a final made of it before keeps its bytes', async () => {
        const created = await send(
          s.url(),
          '/files',
          'POST',
          {
            ...TUS,
            'content-type': 'application/offset+octet-stream',
            'upload-concat': 'partial',
            'upload-length': '4',
          },
          Buffer.from('kept'),
        );
        const part = created.headers.location ?? '';
        const made = await send(s.url(), '/files', 'POST', { ...TUS, 'upload-concat': `final;${part}` });
        assert.equal(made.status, 201);
        await pause(400);
        const late = await send(s.url(), '/files', 'POST', { ...TUS, 'upload-concat': `final;${part}` });
        assert.equal(late.status, 400);
        assert.equal(late.body.toString(), `Upload-Concat: ${part} has expired`);
        assert.equal((await send(s.url(), part, 'HEAD', TUS)).status, 410);
        const got = await send(s.url(), made.headers.location ?? '', 'GET');
        assert.equal(got.status, 200);
        assert.equal(got.body.toString(), 'kept');
      });
    });

    describe('expiry seen before the sweep', () => {
      const s = serve((dir) => ({ options: { directory: dir, expiresAfter: 200, sweepInterval: '1h' } }));

      it('an expired upload answers 410 (404 for draft interop 6, as -05 asks) and is removed', async () => {
        const uploads = await Promise.all([createTus(s.url(), 10), createTus(s.url(), 10), createTus(s.url(), 10)]);
        await pause(300);
        const [tus, v6, v8] = uploads as [string, string, string];
        assert.equal((await send(s.url(), tus, 'HEAD', TUS)).status, 410);
        assert.equal((await send(s.url(), v6, 'HEAD', draft(6))).status, 404);
        const gone = await send(
          s.url(),
          v8,
          'PATCH',
          { ...draft(8), 'content-type': 'application/partial-upload', 'upload-offset': '0', 'upload-complete': '?0' },
          Buffer.from('late'),
        );
        assert.equal(gone.status, 410);
        assert.equal(gone.headers['upload-complete'], '?0');
        assert.deepEqual(listUploads(s.dir()), []);
      });
    });

    for (const version of [6, 7, 8]) {
      describe(`draft interop version ${version}`, () => {
        const s = serve((dir) => ({ options: { directory: dir, maxSize: 1000, expiresAfter: '1h' } }));
        const lifetimeKey = version === 6 ? 'expires' : 'max-age';

        it('creation with Upload-Complete: ?0 answers 201 with Location, Upload-Complete: ?0 and Upload-Limit', async () => {
          const res = await send(
            s.url(),
            '/files',
            'POST',
            { ...draft(version), 'upload-complete': '?0', 'upload-length': '10', 'content-length': '4' },
            Buffer.from('abcd'),
          );
          assert.equal(res.status, 201);
          assert.match(res.headers.location ?? '', ID_PATH);
          assert.equal(res.headers['upload-complete'], '?0');
          assert.equal(res.headers['upload-offset'], '4');
          assert.match(String(res.headers['upload-limit']), new RegExp(`^max-size=1000, ${lifetimeKey}=(3600|3599)$`));
          const head = await send(s.url(), res.headers.location ?? '', 'HEAD', draft(version));
          assert.equal(head.status, 204);
          assert.equal(head.headers['upload-offset'], '4');
          assert.equal(head.headers['upload-complete'], '?0');
          assert.equal(head.headers['upload-length'], '10');
          assert.equal(head.headers['cache-control'], 'no-store');
          assert.match(String(head.headers['upload-limit']), /^max-size=1000, /);
        });

        it('append with application/partial-upload, 409 with the current offset and the problem type, completion with ?1', async () => {
          const created = await send(s.url(), '/files', 'POST', { ...draft(version), 'upload-complete': '?0' });
          const location = created.headers.location ?? '';
          assert.equal(created.headers['upload-offset'], '0');
          const headers = { ...draft(version), 'content-type': 'application/partial-upload' };
          const wrongType = await send(
            s.url(),
            location,
            'PATCH',
            {
              ...draft(version),
              'content-type': 'application/offset+octet-stream',
              'upload-offset': '0',
              'upload-complete': '?0',
            },
            Buffer.from('x'),
          );
          assert.equal(wrongType.status, 415);
          const first = await send(
            s.url(),
            location,
            'PATCH',
            { ...headers, 'upload-offset': '0', 'upload-complete': '?0' },
            Buffer.from('hello '),
          );
          assert.equal(first.status, 204);
          assert.equal(first.headers['upload-complete'], '?0');
          assert.equal(first.headers['upload-offset'], '6');
          const stale = await send(
            s.url(),
            location,
            'PATCH',
            { ...headers, 'upload-offset': '2', 'upload-complete': '?1' },
            Buffer.from('world'),
          );
          assert.equal(stale.status, 409);
          assert.equal(stale.headers['upload-offset'], '6');
          assert.equal(stale.headers['upload-complete'], '?0');
          assert.equal(stale.headers['content-type'], 'application/problem+json');
          assert.deepEqual(JSON.parse(stale.body.toString()), {
            type: `${DRAFT_PROBLEM}mismatching-upload-offset`,
            title: 'offset from request does not match offset of resource',
            'expected-offset': 6,
            'provided-offset': 2,
          });
          const last = await send(
            s.url(),
            location,
            'PATCH',
            { ...headers, 'upload-offset': '6', 'upload-complete': '?1' },
            Buffer.from('world'),
          );
          assert.equal(last.status, 204);
          assert.equal(last.headers['upload-complete'], '?1');
          assert.equal(last.headers['upload-offset'], '11');
          const head = await send(s.url(), location, 'HEAD', draft(version));
          assert.equal(head.headers['upload-complete'], '?1');
          assert.equal(head.headers['upload-length'], '11');
          const again = await send(
            s.url(),
            location,
            'PATCH',
            { ...headers, 'upload-offset': '11', 'upload-complete': '?1' },
            Buffer.from('!'),
          );
          assert.equal(again.status, 400);
          // Draft -10 on (interop 8): a non-empty append to a completed upload is an inconsistent length.
          const problem = version === 8 ? 'inconsistent-upload-length' : 'completed-upload';
          assert.equal(JSON.parse(again.body.toString()).type, `${DRAFT_PROBLEM}${problem}`);
          assert.equal(again.headers['upload-offset'], '11');
          const empty = await send(
            s.url(),
            location,
            'PATCH',
            { ...headers, 'upload-offset': '11', 'upload-complete': '?1' },
            Buffer.alloc(0),
          );
          assert.equal(empty.status, 400);
          assert.equal(JSON.parse(empty.body.toString()).type, `${DRAFT_PROBLEM}completed-upload`);
          assert.equal((await send(s.url(), location, 'GET')).body.toString(), 'hello world');
        });

        it('creation with Upload-Complete: ?1 and all the content completes in one request', async () => {
          const res = await send(
            s.url(),
            '/files',
            'POST',
            {
              ...draft(version),
              'upload-complete': '?1',
              'content-type': 'text/plain',
              'content-disposition': 'inline; filename="note.txt"',
            },
            Buffer.from('one shot'),
          );
          assert.equal(res.status, 201);
          assert.equal(res.headers['upload-complete'], '?1');
          assert.equal(res.headers['upload-offset'], '8');
          const got = await send(s.url(), res.headers.location ?? '', 'GET');
          assert.equal(got.status, 200);
          assert.equal(got.body.toString(), 'one shot');
          assert.equal(got.headers['content-type'], 'text/plain');
          assert.equal(got.headers['content-disposition'], 'attachment; filename="note.txt"');
        });

        it('inconsistent lengths are refused with a 400', async () => {
          const res = await send(
            s.url(),
            '/files',
            'POST',
            { ...draft(version), 'upload-complete': '?1', 'upload-length': '10' },
            Buffer.from('short'),
          );
          assert.equal(res.status, 400);
          if (version >= 7) {
            assert.equal(res.headers['content-type'], 'application/problem+json');
            assert.equal(JSON.parse(res.body.toString()).type, `${DRAFT_PROBLEM}inconsistent-upload-length`);
          }
          const created = await send(s.url(), '/files', 'POST', {
            ...draft(version),
            'upload-complete': '?0',
            'upload-length': '10',
          });
          const later = await send(
            s.url(),
            created.headers.location ?? '',
            'PATCH',
            {
              ...draft(version),
              'content-type': 'application/partial-upload',
              'upload-offset': '0',
              'upload-complete': '?0',
              'upload-length': '12',
            },
            Buffer.from('abc'),
          );
          assert.equal(later.status, 400);
        });

        it('an invalid Upload-Complete is ignored, so the creation lacks it', async () => {
          for (const value of ['yes', '1', '?2', '"?1"']) {
            const res = await send(s.url(), '/files', 'POST', { ...draft(version), 'upload-complete': value });
            assert.equal(res.status, 400, value);
          }
          const withParameter = await send(s.url(), '/files', 'POST', {
            ...draft(version),
            'upload-complete': '?0;x=1',
          });
          assert.equal(withParameter.status, 201);
        });

        it('a length over max-size is a 413 with Upload-Limit', async () => {
          const res = await send(s.url(), '/files', 'POST', {
            ...draft(version),
            'upload-complete': '?0',
            'upload-length': '1001',
          });
          assert.equal(res.status, 413);
          assert.match(String(res.headers['upload-limit']), /^max-size=1000/);
        });

        it('GET of an unfinished upload with the interop field retrieves the offset, as HEAD does', async () => {
          const created = await send(
            s.url(),
            '/files',
            'POST',
            { ...draft(version), 'upload-complete': '?0' },
            Buffer.from('xy'),
          );
          const res = await send(s.url(), created.headers.location ?? '', 'GET', draft(version));
          assert.equal(res.status, 204);
          assert.equal(res.headers['upload-offset'], '2');
          assert.equal(res.headers['upload-complete'], '?0');
          assert.equal(res.body.length, 0);
        });

        it(
          version === 6
            ? 'content streaming past Upload-Length stops at the length with a 400 (draft -05)'
            : 'content streaming past Upload-Length is a 413 and the upload is deactivated (draft -08 on)',
          async () => {
            const created = await send(s.url(), '/files', 'POST', {
              ...draft(version),
              'upload-complete': '?0',
              'upload-length': '5',
            });
            const location = created.headers.location ?? '';
            const headers = {
              ...draft(version),
              'content-type': 'application/partial-upload',
              'upload-offset': '0',
              'upload-complete': '?0',
              'transfer-encoding': 'chunked',
            };
            const res = await send(s.url(), location, 'PATCH', headers, [Buffer.from('abc'), Buffer.from('defg')]);
            const head = await send(s.url(), location, 'HEAD', draft(version));
            if (version === 6) {
              assert.equal(res.status, 400);
              // Draft -05: the upload stays active, so the failure states its offset.
              assert.equal(res.headers['upload-offset'], '5');
              assert.equal(head.status, 204);
              assert.equal(head.headers['upload-offset'], '5');
            } else {
              assert.equal(res.status, 413);
              assert.equal(res.headers['upload-complete'], '?0');
              assert.equal(head.status, 410);
              assert.equal(
                listUploads(s.dir()).some((name) => name.startsWith(location.slice(7))),
                false,
              );
            }
          },
        );

        it('a ?1 body shorter than Upload-Length is refused with 400 and stores none of its bytes', async () => {
          const created = await send(
            s.url(),
            '/files',
            'POST',
            { ...draft(version), 'upload-complete': '?0', 'upload-length': '10' },
            Buffer.from('abc'),
          );
          const location = created.headers.location ?? '';
          const short = await send(
            s.url(),
            location,
            'PATCH',
            {
              ...draft(version),
              'content-type': 'application/partial-upload',
              'upload-offset': '3',
              'upload-complete': '?1',
              'transfer-encoding': 'chunked',
            },
            [Buffer.from('de'), Buffer.from('f')],
          );
          assert.equal(short.status, 400);
          assert.equal(short.headers['upload-complete'], '?0');
          if (version === 6) assert.equal(short.headers['upload-offset'], '3');
          else assert.equal(JSON.parse(short.body.toString()).type, `${DRAFT_PROBLEM}inconsistent-upload-length`);
          const head = await send(s.url(), location, 'HEAD', draft(version));
          assert.equal(head.headers['upload-offset'], '3');
          assert.equal(readFileSync(path.join(s.dir(), location.slice('/files/'.length))).toString(), 'abc');
        });

        it('a creation refused with a 4xx leaves no upload behind', async () => {
          const before = listUploads(s.dir()).sort();
          const chunked = { ...draft(version), 'content-type': 'text/plain', 'transfer-encoding': 'chunked' };
          // ?1 with a body shorter than its Upload-Length.
          const short = await send(
            s.url(),
            '/files',
            'POST',
            { ...chunked, 'upload-complete': '?1', 'upload-length': '10' },
            [Buffer.from('ab'), Buffer.from('c')],
          );
          assert.equal(short.status, 400);
          // A body streaming past its Upload-Length, and one past max-size (1000 here) with no length.
          const long = await send(
            s.url(),
            '/files',
            'POST',
            { ...chunked, 'upload-complete': '?0', 'upload-length': '5' },
            [Buffer.from('abc'), Buffer.from('defg')],
          );
          assert.equal(long.status, version === 6 ? 400 : 413);
          const huge = await send(s.url(), '/files', 'POST', { ...chunked, 'upload-complete': '?0' }, [
            Buffer.alloc(600, 1),
            Buffer.alloc(600, 2),
          ]);
          assert.equal(huge.status, 413);
          for (const res of [short, long, huge]) assert.equal(res.headers.location, undefined);
          // Over HTTP/2 each creation first announced its upload in a 104: its client knows the URL, so the
          // upload may stay (as one cut off after the 104 does; -08 on deactivates the overflowing one).
          // Nothing is left behind that no 104 named.
          const told = s.h2() ? [short, long, huge].map((res) => announced(res).slice('/files/'.length)) : [];
          const known = new Set([...before, ...told.flatMap((id) => [id, `${id}.json`])]);
          const stray = listUploads(s.dir()).filter((name) => !known.has(name));
          assert.deepEqual(stray, []);
          if (!s.h2()) assert.deepEqual(listUploads(s.dir()).sort(), before);
        });

        if (version === 6) {
          it('every refused append states the offset while the upload stays active (draft -05)', async () => {
            const created = await send(
              s.url(),
              '/files',
              'POST',
              { ...draft(6), 'upload-complete': '?0', 'upload-length': '10' },
              Buffer.from('abcd'),
            );
            const location = created.headers.location ?? '';
            const append = { ...draft(6), 'content-type': 'application/partial-upload', 'upload-complete': '?0' };
            const refusals: Array<[Record<string, string>, number]> = [
              [{ ...append, 'content-type': 'text/plain', 'upload-offset': '4' }, 415],
              [{ ...append, 'upload-offset': 'four' }, 400],
              [{ ...append, 'upload-offset': '4', 'upload-length': '11' }, 400],
              [{ ...append, 'upload-offset': '4', 'content-length': '7' }, 413],
              [{ ...append, 'upload-offset': '1' }, 409],
            ];
            for (const [headers, status] of refusals) {
              const body = Buffer.alloc(Number(headers['content-length'] ?? 3), 7);
              const res = await send(s.url(), location, 'PATCH', headers, body);
              assert.equal(res.status, status, JSON.stringify(headers));
              assert.equal(res.headers['upload-offset'], '4', JSON.stringify(headers));
            }
          });
        }

        it('cancellation by DELETE answers 204 and the upload is then unknown', async () => {
          const created = await send(s.url(), '/files', 'POST', { ...draft(version), 'upload-complete': '?0' });
          const del = await send(s.url(), created.headers.location ?? '', 'DELETE', draft(version));
          assert.equal(del.status, 204);
          const head = await send(s.url(), created.headers.location ?? '', 'HEAD', draft(version));
          assert.equal(head.status, 404);
        });

        it('Expect: 100-continue gets its 100; the 104 follows over HTTP/2 only (HTTP/1.1 in Node sends 100, 102 and 103)', async () => {
          const res = await send(
            s.url(),
            '/files',
            'POST',
            { ...draft(version), 'upload-complete': '?0', expect: '100-continue' },
            Buffer.from('abc'),
          );
          assert.equal(res.status, 201);
          // The draft: a server "MUST NOT omit the 100 (Continue) response because it has sent" a 104.
          assert.deepEqual(res.informational, s.h2() ? [100, 104] : [100]);
          if (s.h2()) assert.equal(announced(res), res.headers.location);
        });

        it('creation with content: a 104 with Location, Upload-Limit and the interop version before the 201 over HTTP/2, none over HTTP/1.1', async () => {
          const res = await send(
            s.url(),
            '/files',
            'POST',
            { ...draft(version), 'upload-complete': '?0', 'upload-length': '10' },
            Buffer.from('abcd'),
          );
          assert.equal(res.status, 201);
          if (!s.h2()) {
            assert.deepEqual(res.interim, []);
            return;
          }
          assert.deepEqual(res.informational, [104]);
          // Exactly these fields: the draft asks for Location (the same as the final one), Upload-Limit
          // (MAY in -06 to -08, MUST from -09) and the interop version; the offset is the creation's 0.
          const { date: _date, 'upload-limit': limit, ...fields } = { ...res.interim[0]?.headers };
          assert.deepEqual(fields, {
            location: res.headers.location,
            'upload-offset': '0',
            'upload-draft-interop-version': String(version),
          });
          assert.match(String(limit), new RegExp(`^max-size=1000, ${lifetimeKey}=(3600|3599)$`));
        });

        it('a creation cut mid-body after its 104 keeps its upload and bytes; it resumes at that URL from the HEAD offset', async (t) => {
          if (!s.h2()) {
            t.skip('no 104 over HTTP/1.1 in Node: a creation cut before its final response leaves no upload behind');
            return;
          }
          const content = randomBytes(900);
          const count = (): number => (process.platform === 'linux' ? readdirSync('/proc/self/fd').length : 0);
          const baseline = count();
          const open = await openRequest(
            s.url(),
            '/files',
            'POST',
            { ...draft(version), 'upload-complete': '?1', 'upload-length': '900', 'content-length': '900' },
            content.subarray(0, 300),
          );
          for (let i = 0; i < 100 && open.interim.length === 0; i++) await pause(10);
          assert.equal(open.interim[0]?.status, 104);
          const location = String(open.interim[0]?.headers.location);
          assert.match(location, ID_PATH);
          await pause(100);
          open.cut();
          assert.equal(await open.reply, null);
          // The reset stream released the upload's file (bounded wait: descriptors close asynchronously).
          for (let i = 0; i < 40 && count() > baseline; i++) await pause(50);
          assert.equal(count(), baseline);
          const head = await send(s.url(), location, 'HEAD', draft(version));
          assert.equal(head.status, 204);
          assert.equal(head.headers['upload-offset'], '300');
          assert.equal(head.headers['upload-complete'], '?0');
          const rest = await send(
            s.url(),
            location,
            'PATCH',
            {
              ...draft(version),
              'content-type': 'application/partial-upload',
              'upload-offset': '300',
              'upload-complete': '?1',
            },
            content.subarray(300),
          );
          assert.ok(rest.status === 200 || rest.status === 204, String(rest.status));
          assert.equal(rest.headers['upload-complete'], '?1');
          const got = await send(s.url(), location, 'GET');
          assert.equal(got.status, 200);
          assert.ok(got.body.equals(content), 'the stored file is the content, byte for byte');
        });
      });
    }

    it('an unsupported interop version is a 400 naming the supported ones', async () => {
      const dir = directory();
      const server = await factory({ options: { directory: dir } });
      try {
        const res = await send(server.baseUrl, '/files', 'POST', { ...draft(5), 'upload-complete': '?0' });
        assert.equal(res.status, 400);
        assert.match(res.body.toString(), /supported: 6, 7, 8/);
      } finally {
        await server.close();
      }
    });

    describe('downloading a completed upload', () => {
      const s = serve((dir) => ({ options: { directory: dir } }));
      let location = '';
      const content = randomBytes(5000);
      before(async () => {
        location = await createTus(s.url(), content.length, {
          'upload-metadata': `filename ${b64('clip.mp4')},filetype ${b64('video/mp4')}`,
        });
        const res = await send(
          s.url(),
          location,
          'PATCH',
          { ...TUS, 'content-type': 'application/offset+octet-stream', 'upload-offset': '0' },
          content,
        );
        assert.equal(res.status, 204);
      });

      it('GET sends the bytes with the metadata type, file name, strong validators and Repr-Digest', async () => {
        const res = await send(s.url(), location, 'GET');
        assert.equal(res.status, 200);
        assert.deepEqual(res.body, content);
        assert.equal(res.headers['content-type'], 'video/mp4');
        assert.equal(res.headers['content-disposition'], 'attachment; filename="clip.mp4"');
        assert.equal(res.headers['accept-ranges'], 'bytes');
        assert.match(res.headers.etag ?? '', /^"[0-9a-f-]+"$/);
        assert.equal(res.headers['repr-digest'], `sha-256=:${createHash('sha256').update(content).digest('base64')}:`);
      });

      it('a finished upload is served inert: a type off the safe list as application/octet-stream, nosniff, CSP sandbox', async () => {
        const declared = [
          'text/html',
          'TEXT/HTML; charset=utf-8',
          'image/svg+xml',
          'text/javascript',
          'application/javascript',
          'text/css',
          'application/xhtml+xml',
          'application/xml',
          'text/xml',
          'application/json',
          'application/wasm',
          'text/plain+html',
          'not a type',
        ];
        const finish = async (headers: Record<string, string>, protocol: Record<string, string>): Promise<string> => {
          const created = await send(s.url(), '/files', 'POST', { ...protocol, ...headers }, Buffer.from('<b>x</b>'));
          assert.ok(created.status === 201 || created.status === 204, String(created.status));
          return created.headers.location ?? '';
        };
        const tusDone = { 'upload-length': '8', 'content-type': 'application/offset+octet-stream' };
        const targets: Array<[string, string]> = [];
        for (const type of declared) {
          targets.push([type, await finish({ ...tusDone, 'upload-metadata': `filetype ${b64(type)}` }, TUS)]);
          targets.push([`draft ${type}`, await finish({ 'upload-complete': '?1', 'content-type': type }, draft(8))]);
        }
        for (const [type, at] of targets) {
          for (const range of [undefined, 'bytes=0-2']) {
            const res = await send(s.url(), at, 'GET', range === undefined ? {} : { range });
            assert.equal(res.status, range === undefined ? 200 : 206, type);
            assert.equal(res.headers['content-type'], 'application/octet-stream', type);
            assert.equal(res.headers['x-content-type-options'], 'nosniff', type);
            assert.equal(res.headers['content-security-policy'], 'sandbox', type);
            assert.match(res.headers['content-disposition'] ?? '', /^attachment/, type);
          }
        }
        // A type on the safe list keeps its declared type (lowercased, without parameters), sandboxed all the same.
        for (const [type, served] of [
          ['image/png', 'image/png'],
          ['Image/JPEG', 'image/jpeg'],
          ['text/plain; charset=utf-8', 'text/plain'],
          ['audio/mpeg', 'audio/mpeg'],
          ['application/pdf', 'application/pdf'],
        ]) {
          const at = await finish({ ...tusDone, 'upload-metadata': `filetype ${b64(type)}` }, TUS);
          const res = await send(s.url(), at, 'GET');
          assert.equal(res.headers['content-type'], served, type);
          assert.equal(res.headers['content-security-policy'], 'sandbox', type);
          assert.equal(res.headers['x-content-type-options'], 'nosniff', type);
        }
      });

      it('ranges, multipart and If-Range work as for any download', async () => {
        const whole = await send(s.url(), location, 'GET');
        const part = await send(s.url(), location, 'GET', {
          range: 'bytes=100-199',
          'if-range': whole.headers.etag ?? '',
        });
        assert.equal(part.status, 206);
        assert.equal(part.headers['content-range'], `bytes 100-199/${content.length}`);
        assert.deepEqual(part.body, content.subarray(100, 200));
        const stale = await send(s.url(), location, 'GET', { range: 'bytes=100-199', 'if-range': '"other"' });
        assert.equal(stale.status, 200);
        const multi = await send(s.url(), location, 'GET', { range: 'bytes=0-9,20-29' });
        assert.equal(multi.status, 206);
        assert.match(multi.headers['content-type'] ?? '', /^multipart\/byteranges; boundary=/);
      });

      it('Repr-Digest is the SHA-256 of the stored bytes after a cut append and a refused checksum', async () => {
        const bytes = randomBytes(3000);
        const at = await createTus(s.url(), bytes.length);
        const patch = { ...TUS, 'content-type': 'application/offset+octet-stream' };
        const open = await openRequest(
          s.url(),
          at,
          'PATCH',
          { ...patch, 'upload-offset': '0', 'content-length': '2000' },
          bytes.subarray(0, 700),
        );
        await pause(150);
        open.cut();
        assert.equal(await open.reply, null);
        await pause(100);
        assert.equal((await send(s.url(), at, 'HEAD', TUS)).headers['upload-offset'], '700');
        const refused = await send(
          s.url(),
          at,
          'PATCH',
          {
            ...patch,
            'upload-offset': '700',
            'upload-checksum': `sha1 ${createHash('sha1').update('not these bytes').digest('base64')}`,
          },
          bytes.subarray(700, 1500),
        );
        assert.equal(refused.status, 460);
        const rest = await send(s.url(), at, 'PATCH', { ...patch, 'upload-offset': '700' }, bytes.subarray(700));
        assert.equal(rest.status, 204);
        assert.equal(rest.headers['upload-offset'], '3000');
        const got = await send(s.url(), at, 'GET');
        assert.deepEqual(got.body, bytes);
        assert.equal(got.headers['repr-digest'], `sha-256=:${createHash('sha256').update(bytes).digest('base64')}:`);
      });

      it('Repr-Digest is right for an upload another server on the same directory began', async () => {
        const bytes = randomBytes(4000);
        const patch = { ...TUS, 'content-type': 'application/offset+octet-stream' };
        const at = await createTus(s.url(), bytes.length);
        const first = await send(s.url(), at, 'PATCH', { ...patch, 'upload-offset': '0' }, bytes.subarray(0, 1000));
        assert.equal(first.headers['upload-offset'], '1000');
        // The second server never saw the first 1,000 bytes arrive: it reads them back to digest the upload.
        const other = await factory({ options: { directory: s.dir() } });
        try {
          const rest = await send(
            other.baseUrl,
            at,
            'PATCH',
            { ...patch, 'upload-offset': '1000' },
            bytes.subarray(1000),
          );
          assert.equal(rest.status, 204, rest.body.toString());
          const got = await send(other.baseUrl, at, 'GET');
          assert.deepEqual(got.body, bytes);
          const expected = `sha-256=:${createHash('sha256').update(bytes).digest('base64')}:`;
          assert.equal(got.headers['repr-digest'], expected);
        } finally {
          await other.close();
        }
      });

      it('GET of an unfinished upload without a protocol field is a 404', async () => {
        const unfinished = await createTus(s.url(), 10);
        const res = await send(s.url(), unfinished, 'GET');
        assert.equal(res.status, 404);
      });
    });

    describe('hooks', () => {
      const seen: string[] = [];
      const options = (dir: string): ResumableUploadOptions => ({
        directory: dir,
        beforeCreate: (req, creation) => {
          if (req.headers['x-user'] === undefined) return { refuse: { status: 401, body: 'who are you' } };
          return { data: { owner: req.headers['x-user'], name: creation.fileName } };
        },
        onRequest: (req, upload) => {
          if (upload.data.owner !== req.headers['x-user']) return { refuse: { status: 403, body: 'not yours' } };
          return undefined;
        },
        onComplete: (_req, upload) => {
          seen.push(`complete ${upload.length} ${upload.sha256} ${path.basename(upload.path ?? 'no path')}`);
          return {
            response: {
              status: 200,
              headers: { 'content-type': 'application/json' },
              body: JSON.stringify({ id: upload.id, owner: upload.data.owner }),
            },
          };
        },
        onTerminate: (_req, upload) => {
          seen.push(`terminated ${upload.id}`);
        },
      });
      const s = serve((dir) => ({ options: options(dir) }));

      it('beforeCreate refuses with its own status, or attaches data that onRequest then checks', async () => {
        const refused = await send(s.url(), '/files', 'POST', { ...TUS, 'upload-length': '3' });
        assert.equal(refused.status, 401);
        assert.equal(refused.body.toString(), 'who are you');
        const location = await createTus(s.url(), 3, { 'x-user': 'ann' });
        const other = await send(s.url(), location, 'HEAD', { ...TUS, 'x-user': 'bob' });
        assert.equal(other.status, 403);
        const patch = await send(
          s.url(),
          location,
          'PATCH',
          { ...TUS, 'x-user': 'ann', 'content-type': 'application/offset+octet-stream', 'upload-offset': '0' },
          Buffer.from('abc'),
        );
        assert.equal(patch.status, 200);
        assert.equal(patch.headers['upload-offset'], '3');
        assert.equal(patch.headers['tus-resumable'], '1.0.0');
        assert.deepEqual(JSON.parse(patch.body.toString()), { id: location.slice(7), owner: 'ann' });
        assert.ok(
          seen.includes(`complete 3 ${createHash('sha256').update('abc').digest('base64')} ${location.slice(7)}`),
        );
        const again = await send(
          s.url(),
          location,
          'PATCH',
          { ...TUS, 'x-user': 'ann', 'content-type': 'application/offset+octet-stream', 'upload-offset': '3' },
          Buffer.alloc(0),
        );
        assert.equal(again.status, 204);
        assert.equal(
          seen.filter((line) => line.startsWith('complete 3 ') && line.endsWith(location.slice(7))).length,
          1,
        );
      });

      it('a final upload naming a partial of another owner is refused as its own requests would be', async () => {
        const patch = { ...TUS, 'content-type': 'application/offset+octet-stream' };
        const part = async (user: string, bytes: string): Promise<string> => {
          const res = await send(
            s.url(),
            '/files',
            'POST',
            { ...patch, 'x-user': user, 'upload-concat': 'partial', 'upload-length': String(bytes.length) },
            Buffer.from(bytes),
          );
          assert.equal(res.status, 201);
          return res.headers.location ?? '';
        };
        const mine = await part('ann', 'mine');
        const theirs = await part('bob', 'theirs');
        const before = readdirSync(s.dir()).sort();
        const refused = await send(s.url(), '/files', 'POST', {
          ...TUS,
          'x-user': 'ann',
          'upload-concat': `final;${mine} ${theirs}`,
        });
        assert.equal(refused.status, 403);
        assert.equal(refused.body.toString(), 'not yours');
        assert.equal(refused.headers['tus-resumable'], '1.0.0');
        assert.deepEqual(readdirSync(s.dir()).sort(), before);
        // beforeCreate decides about the final itself, as about any creation.
        const anonymous = await send(s.url(), '/files', 'POST', { ...TUS, 'upload-concat': `final;${mine}` });
        assert.equal(anonymous.status, 403, 'onRequest refuses the partial before beforeCreate is asked');
      });

      it('onComplete runs once for a final upload, with its files and SHA-256, and never for its partials', async () => {
        const patch = { ...TUS, 'content-type': 'application/offset+octet-stream', 'x-user': 'cy' };
        const parts: string[] = [];
        for (const bytes of ['para', 'llel']) {
          const res = await send(
            s.url(),
            '/files',
            'POST',
            { ...patch, 'upload-concat': 'partial', 'upload-length': '4' },
            Buffer.from(bytes),
          );
          // A partial's last byte is no completion: the creation's own answer, not onComplete's.
          assert.equal(res.status, 201);
          parts.push(res.headers.location ?? '');
        }
        const count = seen.length;
        const created = await send(s.url(), '/files', 'POST', {
          ...TUS,
          'x-user': 'cy',
          'upload-concat': `final;${parts.join(' ')}`,
        });
        assert.equal(created.status, 200, 'the hook gives the final answer');
        assert.equal(created.headers.location, created.headers.location ?? 'missing');
        const { id } = JSON.parse(created.body.toString()) as { id: string };
        assert.match(created.headers.location ?? '', new RegExp(`/files/${id}$`));
        const sha = createHash('sha256').update('parallel').digest('base64');
        assert.deepEqual(seen.slice(count), [`complete 8 ${sha} no path`]);
        assert.equal(
          (await send(s.url(), `/files/${id}`, 'GET', { 'x-user': 'cy' })).headers['repr-digest'],
          `sha-256=:${sha}:`,
        );
        assert.deepEqual(seen.slice(count), [`complete 8 ${sha} no path`]);
      });

      it("a request refused by a check or by onRequest never takes over the owner's running PATCH", async () => {
        const location = await createTus(s.url(), 1000, { 'x-user': 'ann' });
        const patch = { ...TUS, 'content-type': 'application/offset+octet-stream' };
        const owner = await openRequest(
          s.url(),
          location,
          'PATCH',
          { ...patch, 'x-user': 'ann', 'upload-offset': '0', 'content-length': '1000' },
          Buffer.alloc(300, 1),
        );
        await pause(100);
        const hostile: Array<[string, Record<string, string>, Buffer | undefined, number]> = [
          ['HEAD', { ...TUS, 'x-user': 'bob' }, undefined, 403],
          ['GET', { ...TUS, 'x-user': 'bob' }, undefined, 403],
          ['GET', { 'x-user': 'bob' }, undefined, 403],
          ['PATCH', { ...patch, 'x-user': 'bob', 'upload-offset': '0' }, Buffer.from('x'), 403],
          ['DELETE', { ...TUS, 'x-user': 'bob' }, undefined, 403],
          [
            'PATCH',
            { ...TUS, 'x-user': 'ann', 'content-type': 'text/plain', 'upload-offset': '0' },
            Buffer.from('x'),
            415,
          ],
          ['PATCH', { ...patch, 'x-user': 'ann', 'upload-offset': 'zero' }, Buffer.from('x'), 400],
          [
            'PATCH',
            { ...patch, 'x-user': 'ann', 'upload-offset': '0', 'upload-checksum': 'sha1 !!' },
            Buffer.from('x'),
            400,
          ],
          ['PATCH', { ...patch, 'x-user': 'ann', 'upload-offset': '0', 'upload-length': '7' }, Buffer.from('x'), 400],
          [
            'PATCH',
            { ...patch, 'x-user': 'ann', 'upload-offset': '0', 'content-length': '1001' },
            Buffer.alloc(1001),
            413,
          ],
          ['PATCH', { ...patch, 'x-user': 'ann', 'upload-offset': '999' }, Buffer.from('x'), 409],
          [
            'PATCH',
            { ...patch, 'tus-resumable': '2.0.0', 'x-user': 'ann', 'upload-offset': '0' },
            Buffer.from('x'),
            412,
          ],
          ['HEAD', { ...draft(6), 'x-user': 'ann', 'upload-offset': '0' }, undefined, 400],
        ];
        for (const [method, headers, body, status] of hostile) {
          const res = await send(s.url(), location, method, headers, body);
          assert.equal(res.status, status, `${method} ${JSON.stringify(headers)}`);
        }
        // The owner's append was never interrupted: it finishes and completes the upload.
        await owner.write(Buffer.alloc(700, 2));
        const reply = await owner.reply;
        assert.equal(reply?.status, 200);
        assert.equal(reply?.headers['upload-offset'], '1000');
        const got = await send(s.url(), location, 'GET', { 'x-user': 'ann' });
        assert.deepEqual(got.body, Buffer.concat([Buffer.alloc(300, 1), Buffer.alloc(700, 2)]));
      });

      it('a body streaming past Upload-Length completes the upload and onComplete runs once', async () => {
        const location = await createTus(s.url(), 5, { 'x-user': 'ann' });
        const res = await send(
          s.url(),
          location,
          'PATCH',
          {
            ...TUS,
            'x-user': 'ann',
            'content-type': 'application/offset+octet-stream',
            'upload-offset': '0',
            'transfer-encoding': 'chunked',
          },
          [Buffer.from('hel'), Buffer.from('loEXTRA')],
        );
        assert.equal(res.status, 200);
        assert.equal(res.headers['upload-offset'], '5');
        const sum = createHash('sha256').update('hello').digest('base64');
        assert.equal(seen.filter((line) => line === `complete 5 ${sum} ${location.slice(7)}`).length, 1);
        const got = await send(s.url(), location, 'GET', { 'x-user': 'ann' });
        assert.equal(got.body.toString(), 'hello');
      });

      it('onRequest also guards the download of a finished upload', async () => {
        const location = await createTus(s.url(), 2, { 'x-user': 'ann' });
        await send(
          s.url(),
          location,
          'PATCH',
          { ...TUS, 'x-user': 'ann', 'content-type': 'application/offset+octet-stream', 'upload-offset': '0' },
          Buffer.from('ok'),
        );
        const other = await send(s.url(), location, 'GET', { 'x-user': 'bob' });
        assert.equal(other.status, 403);
        assert.equal(other.body.toString(), 'not yours');
        assert.equal(other.headers['tus-resumable'], undefined);
        const owner = await send(s.url(), location, 'GET', { 'x-user': 'ann' });
        assert.equal(owner.status, 200);
        assert.equal(owner.body.toString(), 'ok');
      });

      it('onTerminate hears of a DELETE', async () => {
        const location = await createTus(s.url(), 3, { 'x-user': 'ann' });
        const del = await send(s.url(), location, 'DELETE', { ...TUS, 'x-user': 'ann' });
        assert.equal(del.status, 204);
        assert.ok(seen.includes(`terminated ${location.slice(7)}`));
      });
    });

    describe('an app that widens the types finished uploads are served with', () => {
      const s = serve((dir) => ({
        options: {
          directory: dir,
          downloadTypes: ['image/svg+xml'],
          // The app checked these bytes (here: it trusts the header) and vouches for the type.
          onComplete: (req) =>
            req.headers['x-checked'] === 'html' ? { contentType: 'text/html; charset=utf-8' } : undefined,
        },
      }));

      it("serves a type from downloadTypes as declared and onComplete's contentType as given, still sandboxed", async () => {
        const svg = await send(
          s.url(),
          '/files',
          'POST',
          {
            ...TUS,
            'upload-length': '6',
            'content-type': 'application/offset+octet-stream',
            'upload-metadata': `filetype ${b64('image/svg+xml')}`,
          },
          Buffer.from('<svg/>'),
        );
        const html = await send(
          s.url(),
          '/files',
          'POST',
          {
            ...TUS,
            'x-checked': 'html',
            'upload-length': '6',
            'content-type': 'application/offset+octet-stream',
            'upload-metadata': `filetype ${b64('application/x-anything')}`,
          },
          Buffer.from('<p>ok!'),
        );
        const other = await send(
          s.url(),
          '/files',
          'POST',
          {
            ...TUS,
            'upload-length': '6',
            'content-type': 'application/offset+octet-stream',
            'upload-metadata': `filetype ${b64('text/html')}`,
          },
          Buffer.from('<p>no!'),
        );
        for (const [created, type] of [
          [svg, 'image/svg+xml'],
          [html, 'text/html; charset=utf-8'],
          [other, 'application/octet-stream'],
        ] as const) {
          assert.equal(created.status, 201);
          const res = await send(s.url(), created.headers.location ?? '', 'GET');
          assert.equal(res.status, 200, `${type}: ${res.body.toString()}`);
          assert.equal(res.headers['content-type'], type);
          assert.equal(res.headers['content-security-policy'], 'sandbox');
          assert.equal(res.headers['x-content-type-options'], 'nosniff');
        }
      });
    });

    describe('a completion hook that moves the file away', () => {
      const s = serve((dir) => ({
        options: {
          directory: dir,
          onComplete: async (_req, upload) => {
            const { rename } = await import('node:fs/promises');
            if (upload.path === undefined) throw new Error('an upload of one file has its path');
            await rename(upload.path, `${upload.path}.moved`);
            return { moved: true };
          },
        },
      }));

      it('keeps the upload state (HEAD) and answers 404 to a later GET', async () => {
        const location = await createTus(s.url(), 3);
        const done = await send(
          s.url(),
          location,
          'PATCH',
          { ...TUS, 'content-type': 'application/offset+octet-stream', 'upload-offset': '0' },
          Buffer.from('abc'),
        );
        assert.equal(done.status, 204);
        assert.ok(listUploads(s.dir()).includes(`${location.slice(7)}.moved`));
        const head = await send(s.url(), location, 'HEAD', TUS);
        assert.equal(head.headers['upload-offset'], '3');
        assert.equal((await send(s.url(), location, 'GET')).status, 404);
      });
    });

    describe('a body parser before the uploads', () => {
      const s = serve((dir) => ({ options: { directory: dir }, consumeBodyFirst: true }));

      it('is reported as an error, never stored as a short upload', async () => {
        const location = await createTus(s.url(), 5);
        const res = await send(
          s.url(),
          location,
          'PATCH',
          { ...TUS, 'content-type': 'application/offset+octet-stream', 'upload-offset': '0' },
          Buffer.from('abcde'),
        );
        assert.equal(res.status, 500);
        assert.equal(res.body.toString(), 'error');
        const head = await send(s.url(), location, 'HEAD', TUS);
        assert.equal(head.headers['upload-offset'], '0');
      });
    });

    describe('tus-js-client 4.3', () => {
      const s = serve((dir) => ({ options: { directory: dir } }));
      const runs = [
        { protocol: 'tus-v1', duringCreation: false },
        { protocol: 'ietf-draft-05', duringCreation: false },
        { protocol: 'tus-v1', duringCreation: true },
        { protocol: 'ietf-draft-05', duringCreation: true },
      ] as const;
      for (const { protocol, duringCreation } of runs) {
        const label = duringCreation ? `${protocol}, data sent with the creation` : protocol;
        it(`completes an interrupted and resumed upload (${label})`, async (t) => {
          if (onlyHttp1(t, s.h2(), "tus-js-client's Node transport speaks HTTP/1.1 only")) return;
          const content = randomBytes(3 * 1024 * 1024);
          let upload!: tus.Upload;
          let aborted = false;
          let urlAtAbort: string | null = null;
          // With data sent at creation, the first MiB goes with the POST and the rest in 1 MiB PATCHes;
          // the cut falls in the middle of the second, once the client knows the upload's URL.
          const cutAt = duringCreation ? 1.5 * 1024 * 1024 : 1024 * 1024;
          const done = new Promise<void>((resolve, reject) => {
            // The 4.3 type declarations do not list `protocol`, which the client reads all the same.
            const options: tus.UploadOptions & { protocol: typeof protocol } = {
              endpoint: `${s.url()}/files`,
              protocol,
              uploadDataDuringCreation: duringCreation,
              ...(duringCreation ? { chunkSize: 1024 * 1024 } : {}),
              metadata: { filename: 'big.bin', filetype: 'application/octet-stream' },
              retryDelays: [],
              onProgress: (sent) => {
                if (!aborted && sent >= cutAt) {
                  aborted = true;
                  urlAtAbort = upload.url;
                  void upload.abort().then(() => setTimeout(() => upload.start(), 100));
                }
              },
              onError: reject,
              onSuccess: () => resolve(),
            };
            upload = new tus.Upload(content, options);
          });
          upload.start();
          await done;
          assert.ok(aborted, 'the upload was interrupted');
          assert.ok(urlAtAbort !== null, 'the cut came after the upload was created');
          assert.equal(upload.url, urlAtAbort, 'the same upload was resumed, not a new one created');
          const location = new URL(upload.url ?? '').pathname;
          const got = await send(s.url(), location, 'GET');
          assert.equal(got.status, 200);
          assert.equal(got.body.length, content.length);
          assert.ok(got.body.equals(content));
        });
      }
    });
  });
}

export type { UploadReply };
