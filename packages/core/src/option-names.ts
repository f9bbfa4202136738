/**
 * The message for an option name no interface knows: the nearest known name is suggested, so that a
 * typo (`fallThrough`, `maxRange`, `etags`, `set_headers`) says what was meant instead of only failing.
 */

/** A `TypeError` for the unknown option `key`, naming the known option it is nearest to, if any is near. */
export function unknownOptionError(key: string, known: Iterable<string>, context = 'option'): TypeError {
  const near = nearestName(key, known);
  const hint = near === undefined ? '' : ` (did you mean ${near}?)`;
  return new TypeError(`unknown ${context} ${JSON.stringify(key)}${hint}`);
}

/**
 * The known name `key` most likely meant: one that differs only in case, `_` or `-`, or else the one
 * fewest edits away (insertions, deletions, substitutions, swaps of neighbours, ignoring case), within
 * one edit for names up to four letters and two beyond; undefined when none is that near.
 */
export function nearestName(key: string, known: Iterable<string>): string | undefined {
  const folded = fold(key);
  const limit = folded.length <= 4 ? 1 : 2;
  let best: string | undefined;
  let bestDistance = limit + 1;
  for (const name of known) {
    const distance = editDistance(folded, fold(name));
    if (distance < bestDistance) {
      best = name;
      bestDistance = distance;
    }
  }
  return best;
}

function fold(name: string): string {
  return name.toLowerCase().replace(/[-_]/g, '');
}

/** The optimal-string-alignment distance between `a` and `b` (Levenshtein plus adjacent swaps). */
function editDistance(a: string, b: string): number {
  const rows: number[][] = [];
  for (let i = 0; i <= a.length; i++) {
    const row: number[] = [i];
    for (let j = 1; j <= b.length; j++) {
      if (i === 0) {
        row.push(j);
        continue;
      }
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      const above = rows[i - 1] as number[];
      let d = Math.min((above[j] as number) + 1, (row[j - 1] as number) + 1, (above[j - 1] as number) + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) {
        d = Math.min(d, ((rows[i - 2] as number[])[j - 2] as number) + 1);
      }
      row.push(d);
    }
    rows.push(row);
  }
  return (rows[a.length] as number[])[b.length] as number;
}
