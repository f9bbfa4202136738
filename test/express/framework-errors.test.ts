/**
 * What reaches Express's own error handling from range-serve, on Express 4 and 5: a file a route cannot
 * send is answered by Express's final handler with the status its error carries (404, 403, 400).
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { openFile } from '@range-serve/core';
import { sendRange } from '@range-serve/express';
import express, { type Express } from 'express';
import express4 from 'express4';
import type { RunningServer } from '../conformance/scenarios.ts';
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

    const rows: [string, number][] = [
      ['a missing file', 404],
      ['a directory', 404],
      ['a FIFO', 403],
      ['a symbolic link opened with followSymlinks: false', 403],
      ['a path with a NUL byte', 400],
    ];
    const keys = ['missing', 'directory', 'fifo', 'link', 'nul'];
    rows.forEach(([what, status], i) => {
      it(`openFile of ${what} in a sendRange route is a ${status} from Express's final handler`, async () => {
        const res = await request(server.baseUrl, `/send/${keys[i]}`);
        assert.equal(res.status, status);
      });
    });

    it('the file itself is still sent', async () => {
      const res = await request(server.baseUrl, '/send/file');
      assert.equal(res.status, 200);
      assert.equal(res.body.toString(), 'a file a route sends\n');
    });
  });
}
