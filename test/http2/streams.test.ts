// Streams a client resets (RST_STREAM) on one HTTP/2 connection, as a player that seeks cancels range
// after range: the connection keeps serving, and every descriptor of a cancelled download is released.
// Koa 2 and 3 on http2.createSecureServer(app.callback()), and serveRepresentation on plain node:http2.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, truncateSync, writeFileSync } from 'node:fs';
import http2 from 'node:http2';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { rangeServe } from '@range-serve/koa';
import Koa from 'koa';
import Koa2 from 'koa2';
import { listenHttp2, type RunningHttp2Server } from '../helpers/http2.ts';
import { LOCALHOST_TLS } from '../helpers/aborts.ts';
import { eventually, fdCount } from '../stress/resources.ts';
import { koaOnHttp2, serveFilesHttp2 } from './servers.ts';

/** A file far larger than any window, so every cancelled stream had more to send. */
const LARGE = 256 * 1024 * 1024;
const CONTENT_SIZE = 8 * 1024 * 1024;

/** How a client's connection is set up: Node's defaults, or a browser's larger windows (Chromium's). */
const CLIENTS = [
  { name: "Node's default windows", settings: {}, connectionWindow: undefined },
  {
    name: "a browser's windows (6 MiB a stream, 15 MiB the connection)",
    settings: { initialWindowSize: 6 * 1024 * 1024 },
    connectionWindow: 15 * 1024 * 1024,
  },
] as const;

function connect(baseUrl: string, client: (typeof CLIENTS)[number]): Promise<http2.ClientHttp2Session> {
  const session = http2.connect(baseUrl, { ca: LOCALHOST_TLS.cert, settings: client.settings });
  session.on('error', () => {});
  return new Promise((resolve, reject) => {
    session.once('connect', () => {
      if (client.connectionWindow !== undefined) session.setLocalWindowSize(client.connectionWindow);
      resolve(session);
    });
    session.once('error', reject);
  });
}

/** Asks for `range` and resets the stream soon after its first body bytes arrive; resolves to the status. */
function cancelAfterFirstBytes(session: http2.ClientHttp2Session, target: string, range: string): Promise<string> {
  return new Promise((resolve) => {
    const stream = session.request({ ':path': target, range });
    let status = '';
    stream.on('response', (headers) => {
      status = String(headers[':status']);
    });
    stream.once('data', () => {
      setTimeout(() => {
        stream.close(http2.constants.NGHTTP2_CANCEL);
        resolve(status);
      }, 2);
    });
    stream.on('error', (err: Error) => resolve(`error: ${err.message}`));
    stream.on('end', () => resolve(status));
  });
}

/** One whole request on `session`: its status and body. */
function fetchOn(
  session: http2.ClientHttp2Session,
  target: string,
  headers: http2.OutgoingHttpHeaders = {},
): Promise<{ status: string; body: Buffer }> {
  return new Promise((resolve) => {
    const stream = session.request({ ':path': target, ...headers });
    let status = '';
    const chunks: Buffer[] = [];
    stream.on('response', (fields) => {
      status = String(fields[':status']);
    });
    stream.on('data', (chunk: Buffer) => chunks.push(chunk));
    stream.on('end', () => resolve({ status, body: Buffer.concat(chunks) }));
    stream.on('error', (err: Error) => resolve({ status: `error: ${err.message}`, body: Buffer.alloc(0) }));
  });
}

const SERVERS: readonly [string, (root: string) => Promise<RunningHttp2Server>][] = [
  ['Koa 3 on node:http2', (root) => koaServer(Koa, root)],
  ['Koa 2 on node:http2', (root) => koaServer(Koa2 as unknown as typeof Koa, root)],
  ['serveRepresentation on node:http2', (root) => serveFilesHttp2(root)],
];

function koaServer(KoaApp: typeof Koa, root: string): Promise<RunningHttp2Server> {
  const app = new KoaApp();
  app.silent = true; // a cancelled stream is a client that went away, not an error to print
  app.use(rangeServe(root));
  return listenHttp2(koaOnHttp2(app));
}

for (const [name, start] of SERVERS) {
  describe(`${name}: streams reset by the client`, () => {
    let dir: string;
    let content: Buffer;
    let server: RunningHttp2Server;
    before(async () => {
      dir = mkdtempSync(path.join(tmpdir(), 'range-serve-h2-'));
      // Sparse: its reads are zeros from the page cache, as fast as a file read can be.
      writeFileSync(path.join(dir, 'large.bin'), '');
      truncateSync(path.join(dir, 'large.bin'), LARGE);
      content = randomBytes(CONTENT_SIZE);
      writeFileSync(path.join(dir, 'content.bin'), content);
      server = await start(dir);
    });
    after(async () => {
      await server?.close();
      if (dir !== undefined) rmSync(dir, { recursive: true, force: true });
    });

    for (const client of CLIENTS) {
      it(`a connection that cancelled 100 range streams mid-body still serves the next request (${client.name})`, async () => {
        const session = await connect(server.baseUrl, client);
        try {
          for (let i = 0; i < 100; i++) {
            const status = await cancelAfterFirstBytes(session, '/large.bin', `bytes=${i * 1_000_000}-`);
            assert.equal(status, '206', `stream ${i + 1} of 100`);
          }
          const next = await fetchOn(session, '/content.bin', { range: 'bytes=0-9' });
          assert.equal(next.status, '206', 'the request after 100 cancelled streams');
          assert.deepEqual(next.body, content.subarray(0, 10));
        } finally {
          session.destroy();
        }
      });
    }

    it('streams reset at any point of the body, many at once on one connection, leave no descriptor open', async () => {
      const session = await connect(server.baseUrl, CLIENTS[0]);
      try {
        // The connection's own descriptors are open before the baseline is taken.
        assert.equal((await fetchOn(session, '/content.bin', { range: 'bytes=0-0' })).status, '206');
        const baseline = fdCount();
        const resets = Array.from({ length: 60 }, (_, i) => {
          const multipart = i % 3 === 0;
          const range = multipart ? `bytes=0-99,${CONTENT_SIZE / 2}-,-1000` : `bytes=${i * 1000}-`;
          return new Promise<void>((resolve) => {
            const stream = session.request({ ':path': '/content.bin', range });
            const cut = Math.floor(Math.random() * (CONTENT_SIZE / 2));
            let received = 0;
            stream.on('data', (chunk: Buffer) => {
              received += chunk.length;
              if (received >= cut && !stream.closed) stream.close(http2.constants.NGHTTP2_CANCEL);
            });
            stream.on('close', () => resolve());
            stream.on('error', () => {});
          });
        });
        await Promise.all(resets);
        const released = await eventually(() => fdCount() <= baseline, 5_000);
        assert.ok(released, `descriptors: ${fdCount()} open, ${baseline} before the resets`);
        // And the connection still serves whole bodies, exactly.
        const whole = await fetchOn(session, '/content.bin');
        assert.equal(whole.status, '200');
        assert.ok(whole.body.equals(content), 'the whole body after the resets');
      } finally {
        session.destroy();
      }
    });
  });
}
