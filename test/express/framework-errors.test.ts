/**
 * What reaches Express's own error handling from range-serve, on Express 4 and 5: a file a route cannot
 * send is answered by Express's final handler with the status its error carries (404, 403, 400); a client
 * that goes away mid-download is no error at all, while a read that fails mid-body still reaches the
 * error handler.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { openFile } from '@range-serve/core';
import { rangeServe, sendRange } from '@range-serve/express';
import express, { type Express, type NextFunction, type Request, type Response } from 'express';
import express4 from 'express4';
import { type RunningServer, STORE_FAILS_AT, storeRepresentation } from '../conformance/scenarios.ts';
import { aria2Download, leaveMidBody } from '../helpers/aborts.ts';
import { request } from '../helpers/http.ts';
import { makeRouteFiles, type RouteFiles } from '../helpers/route-files.ts';
import { listen } from '../helpers/server.ts';

const majors: [string, () => Express][] = [
  ['Express 4', express4 as unknown as () => Express],
  ['Express 5', express],
];
for (const [name, make] of majors) {
  describe(`${name}: errors reach Express's own handler`, () => {
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
      const app = make();
      app.set('env', 'test'); // Express's final handler prints nothing in the test environment
      app.get('/send/:which', async (req, res, next) => {
        try {
          const which = String(req.params.which);
          const file = await openFile(paths[which] ?? files.file, { followSymlinks: which !== 'link' });
          await sendRange(req, res, file);
        } catch (err) {
          next(err);
        }
      });
      server = await listen(app);
    });
    after(async () => {
      await server.close();
      files.remove();
    });

    const rows: [string, string, number][] = [
      ["openFile of a missing file in a sendRange route is a 404 from Express's final handler", 'missing', 404],
      ["openFile of a directory in a sendRange route is a 404 from Express's final handler", 'directory', 404],
      ["openFile of a FIFO in a sendRange route is a 403 from Express's final handler", 'fifo', 403],
      [
        "openFile of a symbolic link opened with followSymlinks: false in a sendRange route is a 403 from Express's final handler",
        'link',
        403,
      ],
      ["openFile of a path with a NUL byte in a sendRange route is a 400 from Express's final handler", 'nul', 400],
    ];
    for (const [title, key, status] of rows) {
      it(title, async () => {
        const res = await request(server.baseUrl, `/send/${key}`);
        assert.equal(res.status, status);
      });
    }

    it('the file itself is still sent', async () => {
      const res = await request(server.baseUrl, '/send/file');
      assert.equal(res.status, 200);
      assert.equal(res.body.toString(), 'a file a route sends\n');
    });
  });
}

for (const [name, make] of majors) {
  describe(`${name}: a client that goes away is no error`, () => {
    const files: RouteFiles = makeRouteFiles();
    const sha = createHash('sha256').update(readFileSync(files.big)).digest('hex');
    const errors: Error[] = [];
    const finishedAtClose: boolean[] = [];
    let server: RunningServer;

    before(async () => {
      const app = make();
      // What an access log reads when the response closes: was it sent whole?
      app.use((_req, res, next) => {
        res.once('close', () => finishedAtClose.push(res.writableFinished));
        next();
      });
      app.use(rangeServe(files.dir));
      app.get('/send/big', async (req, res, next) => {
        try {
          await sendRange(req, res, await openFile(files.big));
        } catch (err) {
          next(err);
        }
      });
      app.get('/send/failing', (req, res, next) => {
        sendRange(req, res, storeRepresentation({ failAt: STORE_FAILS_AT })).catch(next);
      });
      app.use((err: Error, _req: Request, res: Response, _next: NextFunction) => {
        errors.push(err);
        if (res.headersSent) res.destroy();
        else res.status(500).end();
      });
      server = await listen(app);
    });
    after(async () => {
      await server.close();
      files.remove();
    });

    /** The errors that reach the handler while `action` runs, and shortly after. */
    async function errorsDuring(action: () => Promise<unknown>): Promise<string[]> {
      const before = errors.length;
      await action();
      await new Promise((resolve) => setTimeout(resolve, 100));
      return errors.slice(before).map((err) => `${(err as { code?: string }).code ?? ''} ${err.message}`);
    }

    for (const target of ['/big.bin', '/send/big']) {
      it(`${target}: clients that reset the connection mid-body reach no error handler`, async () => {
        const seen = await errorsDuring(async () => {
          for (let i = 0; i < 8; i++) await leaveMidBody(server.baseUrl, target, 'reset');
        });
        assert.deepEqual(seen, []);
      });

      it(`${target}: clients that close their side mid-body reach no error handler`, async () => {
        const seen = await errorsDuring(async () => {
          for (let i = 0; i < 8; i++) await leaveMidBody(server.baseUrl, target, 'close');
        });
        assert.deepEqual(seen, []);
      });

      it(
        `${target}: aria2c -x4 assembles the file whole and no error reaches the handler`,
        { timeout: 90_000 },
        async () => {
          const got: string[] = [];
          const seen = await errorsDuring(async () => {
            got.push(await aria2Download(`${server.baseUrl}${target}`, files.dir, 'aria2.out'));
          });
          assert.deepEqual(got, [sha]);
          assert.deepEqual(seen, []);
        },
      );
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

    it('a read that fails mid-body reaches the error handler, after the connection is cut', async () => {
      const seen = await errorsDuring(() =>
        request(server.baseUrl, '/send/failing').then(
          (res) => assert.ok(res.body.length < Number(res.headers['content-length'])),
          () => undefined, // the cut may also show as a socket error
        ),
      );
      assert.deepEqual(seen, [' the store went away']);
    });
  });
}
