/**
 * What reaches Koa's own error handling from range-serve, on Koa 2 and 3: a file a route cannot send is
 * answered by Koa's default handler with the status its error carries (404, 403, 400), and Koa's default
 * logger prints nothing for a 404 or an exposed 400. A client that goes away mid-download is no error of
 * range-serve's (over HTTP/1.1 and HTTP/2), while a read that fails mid-body still reaches `'error'`.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import http2 from 'node:http2';
import type { AddressInfo } from 'node:net';
import { ClientGoneError, openFile } from '@range-serve/core';
import { rangeServe, sendRange } from '@range-serve/koa';
import Koa from 'koa';
import Koa2 from 'koa2';
import { type RunningServer, STORE_FAILS_AT, storeRepresentation } from '../conformance/scenarios.ts';
import { aria2Download, cancelH2Streams, LOCALHOST_TLS, leaveMidBody } from '../helpers/aborts.ts';
import { request } from '../helpers/http.ts';
import { makeRouteFiles, type RouteFiles } from '../helpers/route-files.ts';
import { listen } from '../helpers/server.ts';

/** Runs `action` with console.error recorded instead of printed (Koa's default error logger writes there). */
async function recordingConsoleErrors<T>(action: () => Promise<T>): Promise<{ result: T; printed: string[] }> {
  const printed: string[] = [];
  const original = console.error;
  console.error = (...args: unknown[]) => {
    printed.push(args.map(String).join(' '));
  };
  try {
    const result = await action();
    await new Promise((resolve) => setTimeout(resolve, 20));
    return { result, printed };
  } finally {
    console.error = original;
  }
}

const majors: [string, typeof Koa][] = [
  ['Koa 2', Koa2 as unknown as typeof Koa],
  ['Koa 3', Koa],
];
for (const [name, K] of majors) {
  describe(`${name}: errors reach Koa's own handler`, () => {
    const files: RouteFiles = makeRouteFiles(1024);
    let server: RunningServer;
    const paths: Record<string, string> = {
      missing: files.missing,
      directory: files.directory,
      fifo: files.fifo,
      link: files.link,
      nul: `${files.dir}/a\0b.txt`,
    };

    before(async () => {
      const app = new K();
      app.use(async (ctx, next) => {
        if (!ctx.path.startsWith('/send/')) return next();
        const which = ctx.path.slice(6);
        await sendRange(ctx, await openFile(paths[which] ?? files.file, { followSymlinks: which !== 'link' }));
      });
      server = await listen(app.callback());
    });
    after(async () => {
      await server.close();
      files.remove();
    });

    const rows: [string, string, number, string, boolean][] = [
      [
        "openFile of a missing file in a sendRange route is a 404 from Koa's default handler, nothing printed",
        'missing',
        404,
        'Not Found',
        false,
      ],
      [
        "openFile of a directory in a sendRange route is a 404 from Koa's default handler, nothing printed",
        'directory',
        404,
        'Not Found',
        false,
      ],
      [
        "openFile of a path with a NUL byte in a sendRange route is a 400 from Koa's default handler, nothing printed",
        'nul',
        400,
        'the path contains a NUL byte',
        false,
      ],
      // Koa's default logger prints every error that is neither a 404 nor exposed: a file the server
      // may not send is worth a line in the log.
      ["openFile of a FIFO in a sendRange route is a 403 from Koa's default handler", 'fifo', 403, 'Forbidden', true],
      [
        "openFile of a symbolic link opened with followSymlinks: false in a sendRange route is a 403 from Koa's default handler",
        'link',
        403,
        'Forbidden',
        true,
      ],
    ];
    for (const [title, key, status, body, logged] of rows) {
      it(title, async () => {
        const { result: res, printed } = await recordingConsoleErrors(() => request(server.baseUrl, `/send/${key}`));
        assert.equal(res.status, status);
        assert.equal(res.body.toString(), body);
        assert.equal(printed.length > 0, logged, printed.join('\n'));
      });
    }

    it('the file itself is still sent', async () => {
      const res = await request(server.baseUrl, '/send/file');
      assert.equal(res.status, 200);
      assert.equal(res.body.toString(), 'a file a route sends\n');
    });
  });
}

/**
 * What may reach app 'error' when a client goes away: the socket errors Koa itself reports for any
 * response whose client resets the connection (its `onFinished(res, ctx.onerror)` listens to the
 * socket's `'error'`), whatever the body, and range-serve's own ClientGoneError where Node reports a
 * response closed unfinished to Koa 3's pipeline (Node 24 on), exposed so that Koa's default handler
 * prints nothing. Never a bare ERR_STREAM_PREMATURE_CLOSE.
 */
const KOA_SOCKET_ERRORS = new Set(['ECONNRESET', 'EPIPE']);

for (const [name, K] of majors) {
  describe(`${name}: a client that goes away is no error of range-serve's`, () => {
    const files: RouteFiles = makeRouteFiles();
    const sha = createHash('sha256').update(readFileSync(files.big)).digest('hex');
    const appErrors: Error[] = [];
    const finishedAtClose: boolean[] = [];
    let server: RunningServer;
    let h2: RunningServer;
    let quiet: RunningServer;
    let quietH2: RunningServer;

    /** An app serving the big file as a directory and through sendRange, and a store that fails mid-body. */
    function makeApp(): Koa {
      const app = new K();
      // What an access log reads when the response closes: was it sent whole?
      app.use(async (ctx, next) => {
        ctx.res.once('close', () => finishedAtClose.push(ctx.res.writableFinished));
        await next();
      });
      app.use(rangeServe(files.dir));
      app.use(async (ctx) => {
        if (ctx.path === '/send/big') await sendRange(ctx, await openFile(files.big));
        else if (ctx.path === '/send/failing') await sendRange(ctx, storeRepresentation({ failAt: STORE_FAILS_AT }));
      });
      return app;
    }

    async function listenH2(app: Koa): Promise<RunningServer> {
      const secure = http2.createSecureServer({ ...LOCALHOST_TLS, allowHTTP1: true }, app.callback());
      await new Promise<void>((resolve) => secure.listen(0, '127.0.0.1', resolve));
      const { port } = secure.address() as AddressInfo;
      return {
        baseUrl: `https://127.0.0.1:${port}`,
        close: () => new Promise<void>((resolve) => secure.close(() => resolve())),
      };
    }

    before(async () => {
      const app = makeApp();
      app.on('error', (err: Error) => appErrors.push(err));
      server = await listen(app.callback());
      h2 = await listenH2(app);
      // Koa's default error handling: no listener of ours, so Koa prints what it does not deem quiet.
      const plain = makeApp();
      quiet = await listen(plain.callback());
      quietH2 = await listenH2(plain);
    });
    after(async () => {
      await Promise.all([server.close(), h2.close(), quiet.close(), quietH2.close()]);
      files.remove();
    });

    /** The errors that reach app 'error' while `action` runs, and shortly after, as `code message`. */
    async function errorsDuring(action: () => Promise<unknown>): Promise<string[]> {
      const before = appErrors.length;
      await action();
      await new Promise((resolve) => setTimeout(resolve, 100));
      const seen = appErrors.slice(before);
      for (const err of seen) {
        if (err instanceof ClientGoneError) assert.equal(err.expose, true);
      }
      return seen.map((err) => `${(err as { code?: string }).code ?? ''} ${err.message}`);
    }
    const code = (line: string) => line.split(' ')[0] ?? '';
    /** What is neither Koa's own socket error nor range-serve's exposed ClientGoneError. */
    const unexpected = (seen: string[]) =>
      seen.filter((line) => !KOA_SOCKET_ERRORS.has(code(line)) && code(line) !== 'ERR_CLIENT_GONE');

    for (const target of ['/big.bin', '/send/big']) {
      it(`${target}: clients that close their side mid-body bring no error but an exposed ClientGoneError to app 'error'`, async () => {
        const seen = await errorsDuring(async () => {
          for (let i = 0; i < 8; i++) await leaveMidBody(server.baseUrl, target, 'close');
        });
        assert.deepEqual(
          seen.filter((line) => code(line) !== 'ERR_CLIENT_GONE'),
          [],
        );
      });

      it(`${target}: HTTP/2 streams cancelled mid-body reach no app 'error'`, async () => {
        const seen = await errorsDuring(() => cancelH2Streams(h2.baseUrl, target, 20));
        assert.deepEqual(seen, []);
      });

      it(`${target}: clients that reset the connection mid-body bring only Koa's own socket errors, or an exposed ClientGoneError, to app 'error'`, async () => {
        const seen = await errorsDuring(async () => {
          for (let i = 0; i < 8; i++) await leaveMidBody(server.baseUrl, target, 'reset');
        });
        assert.deepEqual(unexpected(seen), []);
      });

      it(
        `${target}: aria2c -x4 assembles the file whole, and only Koa's own socket errors, or an exposed ClientGoneError, reach app 'error'`,
        { timeout: 90_000 },
        async () => {
          const got: string[] = [];
          const seen = await errorsDuring(async () => {
            got.push(await aria2Download(`${server.baseUrl}${target}`, files.dir, 'aria2.out'));
          });
          assert.deepEqual(got, [sha]);
          assert.deepEqual(unexpected(seen), []);
        },
      );

      it(`${target}: Koa's default error handler prints nothing for downloads closed or cancelled mid-body`, async () => {
        const { printed } = await recordingConsoleErrors(async () => {
          for (let i = 0; i < 4; i++) await leaveMidBody(quiet.baseUrl, target, 'close');
          await cancelH2Streams(quietH2.baseUrl, target, 10);
          await new Promise((resolve) => setTimeout(resolve, 100));
        });
        assert.deepEqual(printed, []);
      });
    }

    it('a download cut mid-body is never taken for a whole one: the response is not finished when it closes', async () => {
      finishedAtClose.length = 0;
      for (const target of ['/big.bin', '/send/big']) {
        await leaveMidBody(server.baseUrl, target, 'close');
        await leaveMidBody(server.baseUrl, target, 'reset');
      }
      await new Promise((resolve) => setTimeout(resolve, 100));
      assert.deepEqual(finishedAtClose, [false, false, false, false]);
      const whole = await request(server.baseUrl, '/send/big');
      assert.equal(whole.body.length, files.bigSize);
      await new Promise((resolve) => setTimeout(resolve, 50));
      assert.equal(finishedAtClose.at(-1), true);
    });

    it("a read that fails mid-body reaches app 'error', after the connection is cut", async () => {
      const seen = await errorsDuring(() =>
        request(server.baseUrl, '/send/failing').then(
          (res) => assert.ok(res.body.length < Number(res.headers['content-length'])),
          () => undefined, // the cut may also show as a socket error
        ),
      );
      assert.deepEqual(
        seen.filter((line) => !KOA_SOCKET_ERRORS.has(code(line))),
        [' the store went away'],
      );
    });
  });
}
