/**
 * Summarises a V8 `.cpuprofile` (from `node --cpu-prof`) as two tables: the functions with the most self
 * time, and the top of the call tree by total time (a text flame graph), both in microseconds per
 * request when the number of requests served while profiling is given.
 *
 *   node --import tsx bench/profile-summary.ts FILE.cpuprofile [REQUESTS] [ROWS]
 */
import fs from 'node:fs';
import path from 'node:path';

interface ProfileNode {
  readonly id: number;
  readonly callFrame: { functionName: string; url: string; lineNumber: number };
  readonly children?: readonly number[];
}
interface Profile {
  readonly nodes: readonly ProfileNode[];
  readonly samples: readonly number[];
  readonly timeDeltas: readonly number[];
  readonly startTime: number;
  readonly endTime: number;
}

/** A function's name and where it is, shortened to the package or file it is in. */
function frameName(node: ProfileNode): string {
  const { functionName, url, lineNumber } = node.callFrame;
  const name = functionName === '' ? '(anonymous)' : functionName;
  if (url === '') return name;
  const file = url.replace(/^file:\/\//, '');
  const inModules = /node_modules\/((?:@[^/]+\/)?[^/]+)\/(.*)$/.exec(file);
  const where = inModules ? `${inModules[1]}/${path.basename(inModules[2] ?? '')}` : path.basename(file);
  return `${name} ${where}:${lineNumber + 1}`;
}

/** Each node by id, its self time, and its total time (itself and every descendant), in microseconds. */
function nodeTimes(profile: Profile): {
  readonly byId: ReadonlyMap<number, ProfileNode>;
  readonly selfUs: ReadonlyMap<number, number>;
  readonly total: (id: number) => number;
} {
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const selfUs = new Map<number, number>();
  profile.samples.forEach((id, i) => selfUs.set(id, (selfUs.get(id) ?? 0) + (profile.timeDeltas[i] ?? 0)));
  const memo = new Map<number, number>();
  const total = (id: number): number => {
    let t = memo.get(id);
    if (t !== undefined) return t;
    t = selfUs.get(id) ?? 0;
    for (const child of byId.get(id)?.children ?? []) t += total(child);
    memo.set(id, t);
    return t;
  };
  return { byId, selfUs, total };
}

/** Self microseconds by function (nodes of one function summed) and the whole profile's total. */
export function summarise(profile: Profile): { self: Map<string, number>; totalUs: number } {
  const { selfUs, total } = nodeTimes(profile);
  const self = new Map<string, number>();
  for (const node of profile.nodes) {
    const name = frameName(node);
    self.set(name, (self.get(name) ?? 0) + (selfUs.get(node.id) ?? 0));
  }
  return { self, totalUs: total((profile.nodes[0] as ProfileNode).id) };
}

/** The call tree's paths by total time, children of at least `minUs`, indented, at most `depth` deep. */
function treeLines(profile: Profile, scale: (us: number) => string, minUs: number, depth: number): string[] {
  const { byId, total } = nodeTimes(profile);
  const lines: string[] = [];
  const walk = (id: number, level: number): void => {
    const node = byId.get(id) as ProfileNode;
    lines.push(`${scale(total(id)).padStart(8)}  ${'  '.repeat(level)}${frameName(node)}`);
    if (level >= depth) return;
    const kids = [...(node.children ?? [])].filter((c) => total(c) >= minUs).sort((a, b) => total(b) - total(a));
    for (const c of kids) walk(c, level + 1);
  };
  walk((profile.nodes[0] as ProfileNode).id, 0);
  return lines;
}

function main(): void {
  const [file, requestsArg, rowsArg] = process.argv.slice(2);
  if (file === undefined) {
    console.error('usage: profile-summary.ts FILE.cpuprofile [REQUESTS] [ROWS]');
    process.exit(2);
  }
  const profile = JSON.parse(fs.readFileSync(file, 'utf8')) as Profile;
  const requests = requestsArg === undefined ? 0 : Number(requestsArg);
  const rows = rowsArg === undefined ? 25 : Number(rowsArg);
  const per = requests > 0 ? requests : 1;
  const unit = requests > 0 ? 'µs/request' : 'µs';
  const scale = (us: number): string => (us / per).toFixed(requests > 0 ? 2 : 0);
  const { self, totalUs } = summarise(profile);
  console.log(`${path.basename(file)}: ${(totalUs / 1e6).toFixed(2)} s sampled, ${scale(totalUs)} ${unit} in all`);
  console.log('');
  console.log(`| self (${unit}) | function |`);
  console.log('| ---: | --- |');
  for (const [name, us] of [...self].sort((a, b) => b[1] - a[1]).slice(0, rows)) {
    console.log(`| ${scale(us)} | \`${name.replace(/\|/g, '\\|')}\` |`);
  }
  console.log('');
  console.log(`Call tree by total time (${unit}; children of at least 1 % of the whole, 14 deep):`);
  console.log('```');
  for (const line of treeLines(profile, scale, totalUs / 100, 14)) console.log(line);
  console.log('```');
}

if (process.argv[1] !== undefined && import.meta.url.endsWith(path.basename(process.argv[1]))) main();
