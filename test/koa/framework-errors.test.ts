/**
 * What reaches Koa's own error handling from range-serve, on Koa 2 and 3: a file a route cannot send is
 * answered by Koa's default handler with the status its error carries (404, 403, 400), and Koa's default
 * logger prints nothing for a 404 or an exposed 400.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { openFile } from '@range-serve/core';
import { sendRange } from '@range-serve/koa';
import Koa from 'koa';
import Koa2 from 'koa2';
import type { RunningServer } from '../conformance/scenarios.ts';
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

for (const [name, K] of [
  ['Koa 2', Koa2 as unknown as typeof Koa],
  ['Koa 3', Koa],
] as const) {
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
      ['a missing file', 'missing', 404, 'Not Found', false],
      ['a directory', 'directory', 404, 'Not Found', false],
      ['a path with a NUL byte', 'nul', 400, 'the path contains a NUL byte', false],
      // Koa's default logger prints every error that is neither a 404 nor exposed: a file the server
      // may not send is worth a line in the log.
      ['a FIFO', 'fifo', 403, 'Forbidden', true],
      ['a symbolic link opened with followSymlinks: false', 'link', 403, 'Forbidden', true],
    ];
    for (const [what, key, status, body, logged] of rows) {
      it(`openFile of ${what} in a sendRange route is a ${status} from Koa's default handler${logged ? '' : ', nothing printed'}`, async () => {
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
