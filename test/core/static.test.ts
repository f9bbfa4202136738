// staticResolver on its own, one row per path rule of docs/behaviour.md "Paths": what a URL path under a
// root becomes (a file with its exact bytes, a redirect, a refusal with its status, or a miss), and for
// every answer other than a file, that no descriptor is left open.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import fs, { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { RangeServeOptions } from '@range-serve/core';
import { closeRepresentation, normalizeOptions, staticResolver, type StaticResult } from '@range-serve/core/adapter';

/** What a row expects: a file of the root (by its path below the root), or another outcome. */
type Expected =
  | { readonly file: string }
  | { readonly kind: 'redirect' }
  | { readonly kind: 'miss' }
  | { readonly kind: 'refused'; readonly status: 400 | 403 };

interface Row {
  readonly name: string;
  readonly urlPath: string;
  readonly options?: RangeServeOptions;
  readonly expected: Expected;
}

const MISS = { kind: 'miss' } as const;
const REDIRECT = { kind: 'redirect' } as const;
const FORBIDDEN = { kind: 'refused', status: 403 } as const;
const BAD_REQUEST = { kind: 'refused', status: 400 } as const;

const ROWS: readonly Row[] = [
  // Plain files, and a file asked for with a trailing slash.
  { name: 'a file under the root is opened', urlPath: '/todo.txt', expected: { file: 'todo.txt' } },
  { name: 'a file in a subdirectory is opened', urlPath: '/users/list.txt', expected: { file: 'users/list.txt' } },
  { name: 'a missing file is a miss', urlPath: '/nothing.txt', expected: MISS },
  { name: 'a file asked for with a trailing slash is a miss', urlPath: '/todo.txt/', expected: MISS },
  {
    name: 'a file asked for with a trailing slash is a miss even without an index',
    urlPath: '/todo.txt/',
    options: { index: false },
    expected: MISS,
  },
  {
    name: 'a name asked for with a trailing slash never gets an extension',
    urlPath: '/thing/',
    options: { extensions: ['html'] },
    expected: MISS,
  },
  // Dot segments (RFC 3986 §5.2.4), inside the root and above it.
  { name: 'a dot segment is removed', urlPath: '/./todo.txt', expected: { file: 'todo.txt' } },
  { name: 'a .. segment inside the root is resolved', urlPath: '/users/../todo.txt', expected: { file: 'todo.txt' } },
  {
    name: 'percent-encoded dot segments are resolved like plain ones',
    urlPath: '/users/%2e%2E/%2E/todo.txt',
    expected: { file: 'todo.txt' },
  },
  {
    name: 'a .. of a missing directory inside the root is resolved without looking it up',
    urlPath: '/no-such-dir/../todo.txt',
    expected: { file: 'todo.txt' },
  },
  {
    name: 'empty segments collapse before dot segments are removed',
    urlPath: '/users//..//todo.txt',
    expected: { file: 'todo.txt' },
  },
  {
    name: 'a trailing .. names the parent directory: a redirect to it with its slash',
    urlPath: '/users/sub/..',
    expected: REDIRECT,
  },
  {
    name: 'a trailing . names the directory: a redirect to it with its slash',
    urlPath: '/users/.',
    expected: REDIRECT,
  },
  { name: 'a trailing . at the root is a redirect to the root', urlPath: '/.', expected: REDIRECT },
  { name: 'a percent-encoded trailing dot segment is a redirect too', urlPath: '/users/%2E', expected: REDIRECT },
  {
    name: 'a trailing dot segment with redirect: false is a miss',
    urlPath: '/users/.',
    options: { redirect: false },
    expected: MISS,
  },
  { name: 'a trailing dot segment naming a missing directory is a miss', urlPath: '/nothing/.', expected: MISS },
  { name: 'a file followed by /. is a miss, as with a trailing slash', urlPath: '/todo.txt/.', expected: MISS },
  { name: 'a .. above the root is refused', urlPath: '/../outside/canary.txt', expected: FORBIDDEN },
  {
    name: 'a .. above the root is refused even when the path comes back in',
    urlPath: '/../root/todo.txt',
    expected: FORBIDDEN,
  },
  {
    name: 'a .. above the root after a subdirectory is refused',
    urlPath: '/users/../../outside/canary.txt',
    expected: FORBIDDEN,
  },
  {
    name: 'a percent-encoded .. above the root is refused',
    urlPath: '/%2e%2e/outside/canary.txt',
    expected: FORBIDDEN,
  },
  { name: 'a lone .. is refused', urlPath: '/..', expected: FORBIDDEN },
  // Separators, backslashes, NUL and encodings that do not decode.
  { name: 'an encoded slash is refused', urlPath: '/users%2flist.txt', expected: FORBIDDEN },
  { name: 'an encoded backslash is refused', urlPath: '/users%5Clist.txt', expected: FORBIDDEN },
  {
    name: 'an encoded slash is refused even when it would stay inside',
    urlPath: '/users/..%2Ftodo.txt',
    expected: FORBIDDEN,
  },
  { name: 'a backslash is refused', urlPath: '/users\\list.txt', expected: FORBIDDEN },
  { name: 'a NUL byte is a bad request', urlPath: '/todo.txt%00.html', expected: BAD_REQUEST },
  { name: 'a percent-encoding that does not decode is a bad request', urlPath: '/%E0%A4%A.txt', expected: BAD_REQUEST },
  { name: 'a drive letter segment is refused', urlPath: '/C:/todo.txt', expected: FORBIDDEN },
  // Dotfiles.
  { name: 'a dotfile is a miss by default', urlPath: '/.env', expected: MISS },
  { name: 'a file in a dot directory is a miss by default', urlPath: '/.git/config', expected: MISS },
  {
    name: "a dotfile is refused with dotfiles: 'deny'",
    urlPath: '/.env',
    options: { dotfiles: 'deny' },
    expected: FORBIDDEN,
  },
  {
    name: "a dotfile is opened with dotfiles: 'allow'",
    urlPath: '/.env',
    options: { dotfiles: 'allow' },
    expected: { file: '.env' },
  },
  {
    name: 'a dot directory removed by a .. segment is not a dotfile',
    urlPath: '/.git/../todo.txt',
    options: { dotfiles: 'deny' },
    expected: { file: 'todo.txt' },
  },
  // Directories: index and redirect.
  { name: 'a directory with its slash opens its index', urlPath: '/users/', expected: { file: 'users/index.html' } },
  { name: 'the root with its slash opens its index', urlPath: '/', expected: { file: 'index.html' } },
  {
    name: 'index names are tried in order and a directory among them is skipped',
    urlPath: '/skip/',
    options: { index: ['index.html', 'default.htm'] },
    expected: { file: 'skip/default.htm' },
  },
  { name: 'a directory without an index is a miss', urlPath: '/empty/', expected: MISS },
  {
    name: 'a directory with its slash and index: false is a miss',
    urlPath: '/users/',
    options: { index: false },
    expected: MISS,
  },
  {
    name: 'a dotfile index is a miss by default',
    urlPath: '/users/',
    options: { index: ['.index.html'] },
    expected: MISS,
  },
  { name: 'a directory without its slash is a redirect', urlPath: '/users', expected: REDIRECT },
  { name: 'the mount point without its slash is a redirect', urlPath: '', expected: REDIRECT },
  {
    name: 'a directory reached through .. without its slash is a redirect',
    urlPath: '/users/../users',
    expected: REDIRECT,
  },
  {
    name: 'a directory without its slash and redirect: false is a miss',
    urlPath: '/users',
    options: { redirect: false },
    expected: MISS,
  },
  // Extensions.
  {
    name: 'extensions are tried for a name without one',
    urlPath: '/thing',
    options: { extensions: ['html'] },
    expected: { file: 'thing.html' },
  },
  {
    name: 'extensions are tried in order',
    urlPath: '/thing',
    options: { extensions: ['htm', 'html'] },
    expected: { file: 'thing.htm' },
  },
  {
    name: 'extensions are never added to a name that has its own',
    urlPath: '/page.html',
    options: { extensions: ['html'] },
    expected: MISS,
  },
  {
    name: 'a name that exists is opened before any extension is tried',
    urlPath: '/both',
    options: { extensions: ['txt'] },
    expected: { file: 'both' },
  },
  {
    name: 'an extension candidate that is a directory is skipped',
    urlPath: '/thing',
    options: { extensions: ['d', 'html'] },
    expected: { file: 'thing.html' },
  },
  { name: 'without extensions a name without one is a miss', urlPath: '/thing', expected: MISS },
  // Symbolic links.
  {
    name: 'a symbolic link to a file inside the root is opened',
    urlPath: '/inside-link.txt',
    expected: { file: 'inside-link.txt' },
  },
  {
    name: 'a symbolic link to a directory inside the root is followed',
    urlPath: '/users-link/list.txt',
    expected: { file: 'users-link/list.txt' },
  },
  { name: 'a symbolic link to a file outside the root is refused', urlPath: '/escape.txt', expected: FORBIDDEN },
  {
    name: 'a file under a symbolic link to a directory outside the root is refused',
    urlPath: '/escape-dir/canary.txt',
    expected: FORBIDDEN,
  },
  {
    name: 'a symbolic link to a directory outside the root is refused with its slash',
    urlPath: '/escape-dir/',
    expected: FORBIDDEN,
  },
  { name: 'a loop of symbolic links is a miss', urlPath: '/loop-a', expected: MISS },
  // Not regular files.
  { name: 'a FIFO is refused', urlPath: '/fifo', expected: FORBIDDEN },
];

/** The bytes every file of the tree holds: its own path, so a row can tell which file was opened. */
function contentOf(relative: string): string {
  return `file ${relative}\n`;
}

describe('staticResolver: one row per path rule', () => {
  let dir: string;
  let root: string;
  const canary = 'CANARY outside the root';

  before(() => {
    dir = mkdtempSync(path.join(tmpdir(), 'range-serve-static-'));
    root = path.join(dir, 'root');
    mkdirSync(path.join(dir, 'outside'));
    writeFileSync(path.join(dir, 'outside', 'canary.txt'), canary);
    for (const sub of ['users', 'users/sub', 'skip', 'skip/index.html', 'empty', '.git', 'thing.d']) {
      mkdirSync(path.join(root, sub), { recursive: true });
    }
    const files = [
      'todo.txt',
      'index.html',
      '.env',
      '.git/config',
      'users/list.txt',
      'users/index.html',
      'users/.index.html',
      'skip/default.htm',
      'thing.html',
      'thing.htm',
      'page.html.html',
      'both',
      'both.txt',
    ];
    for (const file of files) writeFileSync(path.join(root, file), contentOf(file));
    symlinkSync('todo.txt', path.join(root, 'inside-link.txt'));
    symlinkSync('users', path.join(root, 'users-link'));
    symlinkSync(path.join(dir, 'outside', 'canary.txt'), path.join(root, 'escape.txt'));
    symlinkSync(path.join(dir, 'outside'), path.join(root, 'escape-dir'));
    symlinkSync('loop-b', path.join(root, 'loop-a'));
    symlinkSync('loop-a', path.join(root, 'loop-b'));
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  /** The real file a `file` row expects (links resolved), for the target of symlink rows. */
  function expectedBytes(relative: string): string {
    const real = fs.realpathSync(path.join(root, relative));
    return contentOf(path.relative(root, real));
  }

  for (const row of ROWS) {
    it(row.name, async (t) => {
      if (row.urlPath === '/fifo' && !makeFifo(path.join(root, 'fifo'))) {
        t.skip('mkfifo is not available on this machine');
        return;
      }
      const resolve = staticResolver(root, normalizeOptions(row.options ?? {}));
      const before = await settledDescriptors();
      const result: StaticResult = await resolve(row.urlPath);
      try {
        if ('file' in row.expected) {
          assert.equal(result.kind, 'file', `${row.urlPath}: ${describeResult(result)}`);
          if (result.kind !== 'file') return;
          assert.equal(result.file.path, path.join(root, row.expected.file));
          assert.equal(fs.readFileSync(result.file.fd, 'utf8'), expectedBytes(row.expected.file));
        } else if (row.expected.kind === 'refused') {
          assert.equal(result.kind, 'refused', `${row.urlPath}: ${describeResult(result)}`);
          if (result.kind === 'refused') assert.equal(result.status, row.expected.status);
        } else {
          assert.deepEqual(result, row.expected);
        }
      } finally {
        if (result.kind === 'file') await closeRepresentation(result.file);
      }
      assert.ok((await settledDescriptors(before)) <= before, 'a descriptor was left open');
    });
  }
});

/** A result in a few words, for assertion messages. */
function describeResult(result: StaticResult): string {
  if (result.kind === 'file') return `file ${result.file.path}`;
  return result.kind === 'refused' ? `refused ${result.status} (${result.reason})` : result.kind;
}

/**
 * How many descriptors this process holds once closes in flight have landed (Node closes a refused
 * descriptor asynchronously): counted until two readings agree, or until it is at most `atMost`,
 * for at most half a second. -1 where /proc is not there.
 */
async function settledDescriptors(atMost = -1): Promise<number> {
  let count = openDescriptors();
  for (let i = 0; i < 50; i++) {
    await new Promise((resolve) => setTimeout(resolve, 10));
    const next = openDescriptors();
    if (next === count && (atMost < 0 || next <= atMost)) return next;
    count = next;
  }
  return count;
}

/** How many descriptors this process holds (Linux), or -1 where /proc is not there. */
function openDescriptors(): number {
  try {
    return fs.readdirSync('/proc/self/fd').length;
  } catch {
    return -1;
  }
}

/** Makes a FIFO with the system's mkfifo; false when there is none. */
function makeFifo(at: string): boolean {
  if (fs.existsSync(at)) return true;
  try {
    execFileSync('mkfifo', [at]);
    return true;
  } catch {
    return false;
  }
}
