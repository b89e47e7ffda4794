// Bundle each CLI into one file under dist/ so that it starts fast (one file to load, no TypeScript at
// run time), and stamp the build.
import { build } from 'esbuild';
import { mkdirSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

const root = join(import.meta.dirname, '..');
const entries = readdirSync(join(root, 'src/cli/bin'))
  .filter((f) => f.endsWith('.ts'))
  .map((f) => join(root, 'src/cli/bin', f));

rmSync(join(root, 'dist'), { recursive: true, force: true });
mkdirSync(join(root, 'dist'), { recursive: true });
// CommonJS, one file per tool: Node loads CommonJS faster than ES modules (no module linking), which
// is most of a CLI's start-up. Command groups are still evaluated only when used (esbuild wraps each
// lazily imported module), and V8 compiles a function only when it first runs.
await build({
  entryPoints: entries,
  outdir: join(root, 'dist'),
  outExtension: { '.js': '.cjs' },
  bundle: true,
  platform: 'node',
  format: 'cjs',
  target: 'node20',
  sourcemap: 'linked',
  logLevel: 'warning',
  define: { 'import.meta.url': '__zonixModuleUrl', 'import.meta.dirname': '__dirname' },
  banner: { js: "const __zonixModuleUrl = require('node:url').pathToFileURL(__filename).href;" },
});
const d = new Date();
const p = (n) => String(n).padStart(2, '0');
const stamp = `${d.getUTCFullYear()}${p(d.getUTCMonth() + 1)}${p(d.getUTCDate())}T${p(d.getUTCHours())}${p(d.getUTCMinutes())}${p(d.getUTCSeconds())}Z`;
writeFileSync(join(root, 'dist', 'buildstamp'), stamp + '\n');
