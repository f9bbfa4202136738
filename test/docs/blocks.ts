/**
 * The fenced code blocks of the docs users read (README.md, docs/*.md, packages/*\/README.md), each with
 * the name the HTML comment before it gives it (`<!-- snippet: name -->`, `<!-- scale-out: name -->`).
 * The snippet suite runs every one of them; a block without a name fails it, so none can go unchecked.
 */
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';

export const repo = path.resolve(import.meta.dirname, '..', '..');

/** One fenced block as written: where it is, its info string, its label and its text (indent removed). */
export interface DocBlock {
  readonly file: string;
  readonly line: number;
  readonly lang: string;
  /** The comment right before the fence (blank lines between allowed), e.g. `snippet: quick-start`. */
  readonly label: string | undefined;
  readonly code: string;
}

/** The markdown files whose code blocks the suite runs, relative to the repository. */
export function docFiles(): string[] {
  const files = ['README.md'];
  for (const name of readdirSync(path.join(repo, 'docs')).sort()) if (name.endsWith('.md')) files.push(`docs/${name}`);
  for (const name of readdirSync(path.join(repo, 'packages')).sort()) {
    try {
      readFileSync(path.join(repo, 'packages', name, 'README.md'));
      files.push(`packages/${name}/README.md`);
    } catch {
      // a package without a README has no blocks
    }
  }
  return files;
}

/** Every fenced block of `file` (relative to the repository), in order. */
export function blocksOf(file: string): DocBlock[] {
  const lines = readFileSync(path.join(repo, file), 'utf8').split('\n');
  const blocks: DocBlock[] = [];
  let label: string | undefined;
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i] as string;
    const comment = /^\s*<!--\s*([\w-]+:\s*[\w-]+)\s*-->\s*$/.exec(line);
    if (comment) {
      label = (comment[1] as string).replace(/:\s*/, ': ');
      continue;
    }
    const open = /^(\s*)(`{3,}|~{3,})\s*([\w-]*)/.exec(line);
    if (!open) {
      if (line.trim() !== '') label = undefined;
      continue;
    }
    const [, indent = '', fence = '', lang = ''] = open;
    const code: string[] = [];
    let j = i + 1;
    for (; j < lines.length; j++) {
      const inner = lines[j] as string;
      const close = /^\s*(`{3,}|~{3,})\s*$/.exec(inner)?.[1];
      if (close !== undefined && close[0] === fence[0] && close.length >= fence.length) break;
      code.push(inner.startsWith(indent) ? inner.slice(indent.length) : inner.trimStart());
    }
    if (j === lines.length) throw new Error(`${file}:${i + 1}: a fenced block that never closes`);
    blocks.push({ file, line: i + 1, lang, label, code: code.join('\n') + '\n' });
    label = undefined;
    i = j;
  }
  return blocks;
}

/** Every block of every doc file. */
export function allBlocks(): DocBlock[] {
  return docFiles().flatMap(blocksOf);
}
