// Resumable uploads over HTTP/2: Koa 2 and 3 with resumableUploads on http2.createSecureServer, a
// node:http2 client on one session. Creation, append and offset as over HTTP/1.1; a PATCH whose stream
// the client resets (RST_STREAM) mid-body keeps every byte that arrived and reports that offset; the
// upload then resumes from it to the exact file; an answer sent before the content was read resets
// nothing else on the connection.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import http2 from 'node:http2';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { resumableUploads } from '@range-serve/koa';
import Koa from 'koa';
import Koa2 from 'koa2';
import mount from 'koa-mount';
import { LOCALHOST_TLS } from '../helpers/aborts.ts';
import { type Http2Listener, listenHttp2, type RunningHttp2Server } from '../helpers/http2.ts';

interface Reply {
  readonly status: number;
  readonly headers: http2.IncomingHttpHeaders;
  readonly body: Buffer;
}

/** One request on `session`, with `body` if any; its status, fields and body. */
function ask(
  session: http2.ClientHttp2Session,
  method: string,
  target: string,
  headers: http2.OutgoingHttpHeaders,
  body?: Buffer,
): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const stream = session.request({ ...headers, ':method': method, ':path': target }, { endStream: !body });
    let reply: Omit<Reply, 'body'> = { status: 0, headers: {} };
    const chunks: Buffer[] = [];
    stream.on('response', (fields) => {
      reply = { status: Number(fields[':status']), headers: fields };
    });
    stream.on('data', (chunk: Buffer) => chunks.push(chunk));
    stream.on('end', () => resolve({ ...reply, body: Buffer.concat(chunks) }));
    stream.on('error', reject);
    if (body) stream.end(body);
  });
}

/** Sends `sent` bytes of a PATCH body and then resets the stream (RST_STREAM CANCEL) without ending it. */
function patchAndReset(
  session: http2.ClientHttp2Session,
  target: string,
  headers: http2.OutgoingHttpHeaders,
  sent: Buffer,
): Promise<void> {
  return new Promise((resolve) => {
    const stream = session.request({ ...headers, ':method': 'PATCH', ':path': target }, { endStream: false });
    stream.on('error', () => {});
    stream.on('close', () => resolve());
    stream.write(sent, () => {
      // Long enough for the server to take in what it was sent.
      setTimeout(() => stream.close(http2.constants.NGHTTP2_CANCEL), 300);
    });
  });
}

const TUS = { 'tus-resumable': '1.0.0' };
const SIZE = 1024 * 1024;

for (const [name, KoaApp] of [
  ['Koa 3', Koa],
  ['Koa 2', Koa2 as unknown as typeof Koa],
] as const) {
  describe(`${name} resumable uploads over HTTP/2`, () => {
    let dir: string;
    let server: RunningHttp2Server;
    let session: http2.ClientHttp2Session;
    before(async () => {
      dir = mkdtempSync(path.join(tmpdir(), 'range-serve-h2-uploads-'));
      const app = new KoaApp();
      app.silent = true;
      app.use(mount('/files', resumableUploads({ directory: dir })));
      server = await listenHttp2(app.callback() as unknown as Http2Listener);
      session = http2.connect(server.baseUrl, { ca: LOCALHOST_TLS.cert });
      session.on('error', () => {});
    });
    after(async () => {
      session?.destroy();
      await server?.close();
      if (dir !== undefined) rmSync(dir, { recursive: true, force: true });
    });

    it('a PATCH reset mid-body keeps every byte that arrived, its offset is honest, and the upload resumes to the exact file', async () => {
      const content = randomBytes(SIZE);
      const created = await ask(session, 'POST', '/files', { ...TUS, 'upload-length': String(SIZE) });
      assert.equal(created.status, 201);
      const target = new URL(String(created.headers.location), server.baseUrl).pathname;
      const patchFields = { ...TUS, 'content-type': 'application/offset+octet-stream' };
      await patchAndReset(session, target, { ...patchFields, 'upload-offset': '0' }, content.subarray(0, 300_000));
      const head = await ask(session, 'HEAD', target, TUS);
      assert.equal(head.status, 200);
      const offset = Number(head.headers['upload-offset']);
      // Every byte the server received is kept; it cannot have more than was sent.
      assert.ok(offset > 0 && offset <= 300_000, `offset ${offset} after 300000 bytes sent and the stream reset`);
      const resumed = await ask(
        session,
        'PATCH',
        target,
        { ...patchFields, 'upload-offset': String(offset) },
        content.subarray(offset),
      );
      assert.equal(resumed.status, 204);
      assert.equal(resumed.headers['upload-offset'], String(SIZE));
      const download = await ask(session, 'GET', target, {});
      assert.equal(download.status, 200);
      assert.ok(download.body.equals(content), 'the stored file is the content, byte for byte');
    });

    it('an answer given before the content was read (415) leaves the connection serving, without a connection field or a warning', async () => {
      const created = await ask(session, 'POST', '/files', { ...TUS, 'upload-length': '4' });
      const target = new URL(String(created.headers.location), server.baseUrl).pathname;
      // HTTP/2 has no connection field (RFC 9113 §8.2.2): Node drops one with an UnsupportedWarning.
      const warnings: string[] = [];
      const onWarning = (warning: Error): void => {
        warnings.push(`${warning.name}: ${warning.message}`);
      };
      process.on('warning', onWarning);
      const refused = await ask(
        session,
        'PATCH',
        target,
        { ...TUS, 'upload-offset': '0', 'content-type': 'text/plain', 'content-length': '4' },
        Buffer.from('abcd'),
      );
      assert.equal(refused.status, 415);
      assert.equal(refused.headers.connection, undefined);
      await new Promise((resolve) => setImmediate(resolve));
      process.off('warning', onWarning);
      assert.deepEqual(warnings, []);
      const head = await ask(session, 'HEAD', target, TUS);
      assert.equal(head.status, 200);
      assert.equal(head.headers['upload-offset'], '0');
    });
  });
}
