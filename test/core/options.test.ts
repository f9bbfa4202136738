// normalizeOptions: the choices serve-static users expect to carry over (docs/behaviour.md "Responses").
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { SendRangeOptions } from '@range-serve/core';
import { normalizeOptions, normalizeSendRangeOptions, staticResolver } from '@range-serve/core/adapter';
import { normalizeUploadOptions } from '@range-serve/core/upload';
import { rangeServe as expressRangeServe, type sendRange as expressSendRange } from '@range-serve/express';
import type { sendRange as koaSendRange } from '@range-serve/koa';
import { optionHeaders } from '../../packages/core/src/options.ts';

describe('normalizeOptions', () => {
  const rows: { name: string; maxAge: number | string; cacheControl: string }[] = [
    { name: 'maxAge 0 is sent as max-age=0', maxAge: 0, cacheControl: 'public, max-age=0' },
    { name: "maxAge '1d' is sent as a day in seconds", maxAge: '1d', cacheControl: 'public, max-age=86400' },
    { name: 'maxAge over one year is sent as one year', maxAge: '2y', cacheControl: 'public, max-age=31536000' },
    { name: 'a negative maxAge is sent as max-age=0', maxAge: -5000, cacheControl: 'public, max-age=0' },
    { name: 'maxAge milliseconds are rounded down to whole seconds', maxAge: 1999, cacheControl: 'public, max-age=1' },
  ];
  for (const row of rows) {
    it(row.name, () => {
      const headers = optionHeaders(normalizeOptions({ maxAge: row.maxAge }), undefined, true);
      assert.equal(headers['cache-control'], row.cacheControl);
    });
  }
});

describe('unknown option names', () => {
  const rows: [string, string, string][] = [
    ['maxage suggests maxAge', 'maxage', 'maxAge'],
    ['fallThrough suggests fallthrough', 'fallThrough', 'fallthrough'],
    ['maxRange suggests maxRanges', 'maxRange', 'maxRanges'],
    ['etags suggests etag', 'etags', 'etag'],
    ['lastModifed suggests lastModified', 'lastModifed', 'lastModified'],
    ['Index suggests index', 'Index', 'index'],
    ['extension suggests extensions', 'extension', 'extensions'],
    ['set_headers suggests setHeaders', 'set_headers', 'setHeaders'],
  ];
  for (const [name, given, meant] of rows) {
    it(name, () => {
      assert.throws(
        () => normalizeOptions({ [given]: 1 } as never),
        (err: unknown) =>
          err instanceof TypeError &&
          err.message === `unknown option ${JSON.stringify(given)} (did you mean ${meant}?)`,
      );
    });
  }

  it('a name near none of the options suggests nothing', () => {
    assert.throws(
      () => normalizeOptions({ compress: true } as never),
      (err: unknown) => err instanceof TypeError && err.message === 'unknown option "compress"',
    );
  });
});

describe('sendRange options', () => {
  const directory: [string, string][] = [
    ['dotfiles is refused: it belongs to directory serving', 'dotfiles'],
    ['index is refused: it belongs to directory serving', 'index'],
    ['extensions is refused: it belongs to directory serving', 'extensions'],
    ['fallthrough is refused: it belongs to directory serving', 'fallthrough'],
    ['redirect is refused: it belongs to directory serving', 'redirect'],
  ];
  for (const [name, key] of directory) {
    it(name, () => {
      assert.throws(
        () => normalizeSendRangeOptions({ [key]: false } as never),
        (err: unknown) =>
          err instanceof TypeError &&
          err.message.startsWith(`sendRange does not take "${key}": it belongs to directory serving, rangeServe(root)`),
      );
    });
  }

  it('an unknown name suggests the nearest sendRange option', () => {
    assert.throws(
      () => normalizeSendRangeOptions({ etags: 'weak' } as never),
      (err: unknown) => err instanceof TypeError && err.message === 'unknown option "etags" (did you mean etag?)',
    );
  });

  it('etag and lastModified stay undefined unless given, and Cache-Control is made only on request', () => {
    const none = normalizeSendRangeOptions({});
    assert.equal(none.etag, undefined);
    assert.equal(none.lastModified, undefined);
    assert.equal(none.cacheControl, undefined);
    assert.equal(normalizeSendRangeOptions({ maxAge: '1d' }).cacheControl, 'public, max-age=86400');
    assert.equal(normalizeSendRangeOptions({ maxAge: '1d', cacheControl: false }).cacheControl, undefined);
  });

  // The type refuses them too: `npm run typecheck` fails when one of these lines compiles.
  const refusedByType: SendRangeOptions[] = [
    // @ts-expect-error dotfiles decides which paths are files: directory serving only
    { dotfiles: 'allow' },
    // @ts-expect-error index: directory serving only
    { index: false },
    // @ts-expect-error fallthrough: directory serving only
    { fallthrough: false },
  ];
  type ExpressOptions = NonNullable<Parameters<typeof expressSendRange>[3]>;
  type KoaOptions = NonNullable<Parameters<typeof koaSendRange>[2]>;
  // @ts-expect-error the Express adapter's sendRange takes no extensions
  const expressRefused: ExpressOptions = { extensions: ['html'] };
  // @ts-expect-error the Koa adapter's sendRange takes no redirect
  const koaRefused: KoaOptions = { redirect: false };
  it('the option types of both adapters refuse the options of directory serving', () => {
    assert.equal(refusedByType.length + [expressRefused, koaRefused].length, 5);
  });
});

describe('upload option names', () => {
  it('an unknown upload option suggests the nearest name', () => {
    for (const [given, meant] of [
      ['maxsize', 'maxSize'],
      ['directroy', 'directory'],
      ['expires_after', 'expiresAfter'],
    ]) {
      assert.throws(
        () => normalizeUploadOptions({ directory: '/tmp/x', [given as string]: 1 } as never),
        (err: unknown) =>
          err instanceof TypeError && err.message === `unknown option "${given}" (did you mean ${meant}?)`,
      );
    }
  });
});

describe('the root of rangeServe', () => {
  const rows: [string, unknown, string][] = [
    [
      'a number as the root is named as the root in the TypeError',
      42,
      'root must be a directory path string, got number 42',
    ],
    [
      'a URL as the root is named as the root in the TypeError',
      new URL('file:///srv/files'),
      'root must be a directory path string (url.fileURLToPath makes one of a file: URL), got a URL',
    ],
    [
      'an array as the root is named as the root in the TypeError',
      ['/srv'],
      'root must be a directory path string, got an array',
    ],
    ['null as the root is named as the root in the TypeError', null, 'root must be a directory path string, got null'],
  ];
  for (const [name, root, message] of rows) {
    it(name, () => {
      assert.throws(
        () => expressRangeServe(root as string),
        (err: unknown) => err instanceof TypeError && err.message === message,
      );
    });
  }

  it('options given after something that is not a root name the root', () => {
    assert.throws(
      () => expressRangeServe(undefined as unknown as string, {}),
      (err: unknown) =>
        err instanceof TypeError && err.message === 'root must be a directory path string, got undefined',
    );
  });

  it('a root that is a file is a TypeError when the middleware is made', () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'range-serve-root-'));
    try {
      const file = path.join(dir, 'index.html');
      writeFileSync(file, '<p>x</p>');
      assert.throws(
        () => expressRangeServe(file),
        (err: unknown) => err instanceof TypeError && err.message === `root must be a directory: ${file} is not one`,
      );
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('a root that does not exist yet is accepted; the first request that finds it missing warns once, and it serves once created', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'range-serve-root-'));
    const root = path.join(dir, 'build');
    const warnings: Error[] = [];
    const onWarning = (warning: Error) => {
      if ((warning as Error & { code?: string }).code === 'RANGE_SERVE_ROOT_MISSING') warnings.push(warning);
    };
    process.on('warning', onWarning);
    try {
      const resolve = staticResolver(root, normalizeOptions());
      assert.equal((await resolve('/a.txt')).kind, 'miss');
      assert.equal((await resolve('/b.txt')).kind, 'miss');
      await new Promise((done) => setImmediate(done)); // warnings are emitted on the next tick
      assert.equal(warnings.length, 1);
      assert.equal(
        warnings[0]?.message,
        `range-serve: the root ${root} does not exist; every request under it is a miss until it does`,
      );
      mkdirSync(root);
      writeFileSync(path.join(root, 'a.txt'), 'built later');
      const found = await resolve('/a.txt');
      assert.equal(found.kind, 'file');
      if (found.kind === 'file') found.file.close();
      assert.equal(warnings.length, 1);
    } finally {
      process.off('warning', onWarning);
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
