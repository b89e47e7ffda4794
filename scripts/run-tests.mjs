// Run every test file with Node's test runner (Node 20 has no globbing, so the files are listed here).
import { spawnSync } from 'node:child_process';
import { readdirSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';

const root = join(import.meta.dirname, '..');
const only = process.argv.slice(2);
function find(dir, out = []) {
  for (const name of readdirSync(dir)) {
    const p = join(dir, name);
    if (name === 'node_modules' || name === 'dist') continue;
    if (statSync(p).isDirectory()) find(p, out);
    else if (name.endsWith('.test.ts')) out.push(relative(root, p));
  }
  return out;
}
let files = [...find(join(root, 'src')), ...find(join(root, 'test'))].sort();
if (only.length) files = files.filter((f) => only.some((o) => f.includes(o)));
// One file at a time: `zonix boot` in a test reconciles the whole host's network (marked links and
// tables of VMs it does not know), as it must on a real host, so files must not overlap.
const res = spawnSync(
  process.execPath,
  ['--import', 'tsx', '--test', '--test-concurrency=1', '--test-reporter=spec', ...files],
  {
    cwd: root,
    stdio: 'inherit',
    // The pool's shared record is frozen in tests, so that code which changes it fails.
    env: { ...process.env, ZONIX_CHECKS: '1' },
  },
);
process.exit(res.status ?? 1);
