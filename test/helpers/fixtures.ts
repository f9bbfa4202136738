/**
 * A temporary file tree for the adapter suites: a root to serve, and beside it a canary file that no
 * response may ever contain, reachable from the root only through an escaping symbolic link.
 */
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';

/** Paths and contents of the fixture tree. */
export interface Fixtures {
  readonly dir: string;
  readonly root: string;
  /** Bytes of `root/hello.txt` (and of the other text files' generator). */
  readonly hello: Buffer;
  readonly indexHtml: string;
  readonly defaultHtm: string;
  readonly pageHtml: string;
  /** Content of `outside/canary.txt`; a body that contains it proves a file outside the root was read. */
  readonly canary: string;
  remove(): void;
}

/** Creates the tree in a fresh temporary directory. */
export function makeFixtures(): Fixtures {
  const dir = mkdtempSync(path.join(tmpdir(), 'range-serve-'));
  const root = path.join(dir, 'root');
  const outside = path.join(dir, 'outside');
  mkdirSync(root);
  mkdirSync(outside);
  const canary = `CANARY-${Math.random().toString(36).slice(2)}`;
  writeFileSync(path.join(outside, 'canary.txt'), canary);
  const hello = Buffer.from('0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ');
  writeFileSync(path.join(root, 'hello.txt'), hello);
  writeFileSync(path.join(root, '.secret'), 'dotfile');
  const pageHtml = '<p>page</p>';
  writeFileSync(path.join(root, 'page.html'), pageHtml);
  // Only reachable by its full name: `/only.html` with `extensions: ['html']` must not find it.
  writeFileSync(path.join(root, 'only.html.html'), '<p>only.html.html</p>');
  const indexHtml = '<p>index</p>';
  mkdirSync(path.join(root, 'dir'));
  writeFileSync(path.join(root, 'dir', 'index.html'), indexHtml);
  mkdirSync(path.join(root, 'evil.example'));
  writeFileSync(path.join(root, 'evil.example', 'index.html'), indexHtml);
  const defaultHtm = '<p>default</p>';
  mkdirSync(path.join(root, 'skipdir'));
  mkdirSync(path.join(root, 'skipdir', 'index.html'));
  writeFileSync(path.join(root, 'skipdir', 'default.htm'), defaultHtm);
  mkdirSync(path.join(root, 'empty-dir'));
  writeFileSync(path.join(root, 'empty.txt'), '');
  symlinkSync(path.join(outside, 'canary.txt'), path.join(root, 'escape.txt'));
  symlinkSync(outside, path.join(root, 'escape-dir'));
  symlinkSync('hello.txt', path.join(root, 'inside-link.txt'));
  return {
    dir,
    root,
    hello,
    indexHtml,
    defaultHtm,
    pageHtml,
    canary,
    remove: () => rmSync(dir, { recursive: true, force: true }),
  };
}
