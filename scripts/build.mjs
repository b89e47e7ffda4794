// Bundle each CLI into one ESM file under dist/ so that it starts fast (one file to load, no
// TypeScript at run time), and stamp the build.
import { build } from 'esbuild';
import { mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

const root = join(import.meta.dirname, '..');
const entries = readdirSync(join(root, 'src/cli/bin'))
  .filter((f) => f.endsWith('.ts'))
  .map((f) => join(root, 'src/cli/bin', f));

mkdirSync(join(root, 'dist'), { recursive: true });
await build({
  entryPoints: entries,
  outdir: join(root, 'dist'),
  outExtension: { '.js': '.mjs' },
  bundle: true,
  platform: 'node',
  format: 'esm',
  // Shared code and lazily loaded command groups go into chunks: a CLI loads only what it runs.
  splitting: true,
  chunkNames: 'chunks/[name]-[hash]',
  target: 'node20',
  sourcemap: 'linked',
  logLevel: 'warning',
  banner: {
    js: "import { createRequire as __zcr } from 'node:module'; const require = __zcr(import.meta.url);",
  },
});
const d = new Date();
const p = (n) => String(n).padStart(2, '0');
const stamp = `${d.getUTCFullYear()}${p(d.getUTCMonth() + 1)}${p(d.getUTCDate())}T${p(d.getUTCHours())}${p(d.getUTCMinutes())}${p(d.getUTCSeconds())}Z`;
writeFileSync(join(root, 'dist', 'buildstamp'), stamp + '\n');
