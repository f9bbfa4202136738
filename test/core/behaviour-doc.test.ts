// docs/behaviour.md names, on every row of its tables, the tests that pin the row. This keeps those names
// true: each must occur in a test source, and every row outside "Planned" must name at least one.
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, it } from 'node:test';

const repo = path.resolve(import.meta.dirname, '..', '..');
const doc = readFileSync(path.join(repo, 'docs', 'behaviour.md'), 'utf8');

/** The text of every TypeScript file under test/, this one left out so it cannot vouch for itself. */
function testSources(): string {
  const texts: string[] = [];
  const walk = (dir: string): void => {
    for (const entry of readdirSync(dir, { withFileTypes: true })) {
      const full = path.join(dir, entry.name);
      if (entry.isDirectory()) walk(full);
      else if (entry.name.endsWith('.ts') && full !== import.meta.filename) texts.push(readFileSync(full, 'utf8'));
    }
  };
  walk(path.join(repo, 'test'));
  return texts.join('\n');
}

/** Table rows before "## Planned", with the section they are in; header and separator rows left out. */
function tableRows(): { section: string; pinnedBy: string }[] {
  const rows: { section: string; pinnedBy: string }[] = [];
  let section = '';
  let header = false;
  for (const line of doc.split('\n')) {
    if (line.startsWith('## ')) {
      section = line.slice(3);
      if (section === 'Planned') break;
    }
    if (!line.startsWith('|')) {
      header = true;
      continue;
    }
    if (header || /^\|[\s|-]+\|$/.test(line)) {
      header = false;
      continue;
    }
    const cells = line.split(' | ');
    rows.push({ section, pinnedBy: cells.at(-1) ?? '' });
  }
  return rows;
}

describe('docs/behaviour.md', () => {
  const sources = testSources();
  const rows = tableRows();

  it('has a Planned section and a table row in every other section', () => {
    assert.match(doc, /^## Planned$/m);
    const sections = [...doc.matchAll(/^## (.+)$/gm)].map((m) => m[1]).filter((name) => name !== 'Planned');
    assert.deepEqual(
      sections.filter((name) => !rows.some((row) => row.section === name)),
      [],
      'sections without a table row',
    );
    assert.ok(rows.length >= 90, `${rows.length} rows`);
  });

  it('every row names at least one test, and every test it names exists', () => {
    const missing: string[] = [];
    for (const row of rows) {
      const names = [...row.pinnedBy.matchAll(/`([^`]+)`/g)].map((m) => m[1] as string);
      assert.ok(names.length > 0, `a row of "${row.section}" names no test: ${row.pinnedBy}`);
      for (const name of names) if (!sources.includes(name)) missing.push(`${row.section}: ${name}`);
    }
    assert.deepEqual(missing, []);
  });
});
