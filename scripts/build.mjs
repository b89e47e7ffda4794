// Bundle each CLI into one file under dist/ so that it starts fast (one file to load, no TypeScript at
// run time), and stamp the build.
import { build } from 'esbuild';
import { spawnSync } from 'node:child_process';
import { mkdirSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';

const root = join(import.meta.dirname, '..');
const entries = readdirSync(join(root, 'src/cli/bin'))
  .filter((f) => f.endsWith('.ts'))
  .map((f) => join(root, 'src/cli/bin', f));

rmSync(join(root, 'dist'), { recursive: true, force: true });
mkdirSync(join(root, 'dist'), { recursive: true });
// CommonJS: Node loads it faster than ES modules (no module linking), which is most of a CLI's start.
// A tool that loads command groups lazily (`await import('./<tool>/<group>.ts')` in src/cli/<tool>.ts)
// gets each group as its own bundle, dist/<tool>/<group>.cjs, required only when that command runs:
// `vmadm help` loads a few KiB, `vmadm list` what listing needs. Errors cross bundles by name (see
// ZonixError's Symbol.hasInstance).
const groupDirs = readdirSync(join(root, 'src/cli'), { withFileTypes: true })
  .filter((e) => e.isDirectory() && e.name !== 'bin')
  .map((e) => e.name);
// A group may in turn load a sibling lazily (`await import('./common.ts')` in src/cli/<tool>/x.ts):
// `vmadm list` loads the VM core only when its cache cannot answer.
const lazyGroups = [];
for (const tool of groupDirs) {
  const text = readFileSync(join(root, 'src/cli', `${tool}.ts`), 'utf8');
  for (const m of text.matchAll(/await import\('\.\/([a-z]+)\/([a-z-]+)\.ts'\)/g))
    lazyGroups.push(join(root, 'src/cli', m[1], `${m[2]}.ts`));
  for (const f of readdirSync(join(root, 'src/cli', tool)).filter((n) => n.endsWith('.ts'))) {
    const group = readFileSync(join(root, 'src/cli', tool, f), 'utf8');
    for (const m of group.matchAll(/await import\('\.\/([a-z-]+)\.ts'\)/g))
      lazyGroups.push(join(root, 'src/cli', tool, `${m[1]}.ts`));
  }
}
const isCliDir = (dir) =>
  dir === join(root, 'src/cli') || groupDirs.some((t) => dir === join(root, 'src/cli', t));
const groupsExternal = {
  name: 'command-groups',
  setup(b) {
    b.onResolve({ filter: /^\.\/([a-z]+\/)?[a-z-]+\.ts$/ }, (args) =>
      args.kind === 'dynamic-import' && isCliDir(dirname(args.importer))
        ? { path: args.path.replace(/\.ts$/, '.cjs'), external: true }
        : undefined,
    );
  },
};
await build({
  entryPoints: [
    ...entries.map((f) => ({ in: f, out: basename(f, '.ts') })),
    ...[...new Set(lazyGroups)].map((f) => ({ in: f, out: join(basename(dirname(f)), basename(f, '.ts')) })),
  ],
  outdir: join(root, 'dist'),
  outExtension: { '.js': '.cjs' },
  bundle: true,
  platform: 'node',
  format: 'cjs',
  target: 'node20',
  sourcemap: 'linked',
  logLevel: 'warning',
  plugins: [groupsExternal],
  // npm packages load from node_modules (fastify and the rest are the service's only, node-pty is native).
  packages: 'external',
  define: { 'import.meta.url': '__zonixModuleUrl', 'import.meta.dirname': '__dirname' },
  banner: { js: "const __zonixModuleUrl = require('node:url').pathToFileURL(__filename).href;" },
});
// esbuild keeps an external dynamic import as `import()`, which would start Node's ES module loader:
// load the groups with require() instead.
const bundles = readdirSync(join(root, 'dist'), { recursive: true }).filter((n) => n.endsWith('.cjs'));
for (const f of bundles) {
  const path = join(root, 'dist', f);
  const text = readFileSync(path, 'utf8');
  const out = text.replace(/\bimport\("(\.\/([a-z]+\/)?[a-z-]+\.cjs)"\)/g, 'Promise.resolve(require("$1"))');
  if (out !== text) writeFileSync(path, out);
}
const d = new Date();
const p = (n) => String(n).padStart(2, '0');
const stamp = `${d.getUTCFullYear()}${p(d.getUTCMonth() + 1)}${p(d.getUTCDate())}T${p(d.getUTCHours())}${p(d.getUTCMinutes())}${p(d.getUTCSeconds())}Z`;
writeFileSync(join(root, 'dist', 'buildstamp'), stamp + '\n');

// zonix-client, the small C program through which `vmadm` runs its commands in zonixd (see
// src/cli/server.ts), stamped with this build so that zonixd serves only its own build's clients.
// Without a C compiler the tools run each command in their own Node process, as they always can.
const cc = spawnSync(
  'cc',
  [
    '-O2',
    '-Wall',
    '-Wextra',
    `-DZONIX_BUILD="${stamp}"`,
    '-o',
    join(root, 'dist', 'zonix-client'),
    join(root, 'src/cli/bin/zonix-client.c'),
  ],
  { stdio: 'inherit' },
);
if (cc.error || cc.status !== 0)
  console.warn('build: no C compiler (cc): vmadm runs each command in its own Node process');

// The zones' metadata tools (mdata-get, -put, -delete, -list): one static program, named by how it is
// called, in the platform folder every zone sees read-only at /native.
const sbin = join(root, 'native/usr/sbin');
const mdata = spawnSync(
  'cc',
  [
    '-static',
    '-Os',
    '-s',
    '-Wall',
    '-Wextra',
    '-o',
    join(sbin, 'mdata-get'),
    join(root, 'src/metadata/mdata.c'),
  ],
  { stdio: 'inherit' },
);
if (mdata.error || mdata.status !== 0) {
  console.error("build: could not build the zones' metadata tools (needs cc and a static libc)");
  process.exit(1);
}
// zonix-respawn keeps the host's metadata process up (see src/metadata/control.ts); without it that
// process runs alone, and a crash of it waits for the next zone start.
const respawn = spawnSync(
  'cc',
  [
    '-O2',
    '-Wall',
    '-Wextra',
    '-o',
    join(root, 'dist', 'zonix-respawn'),
    join(root, 'src/metadata/respawn.c'),
  ],
  { stdio: 'inherit' },
);
if (respawn.error || respawn.status !== 0) console.warn('build: zonix-respawn not built');
// zonix-pty unlocks and sets up the pty behind each zone's /dev/ttyS1 (see src/metadata/serial.ts).
const pty = spawnSync(
  'cc',
  ['-O2', '-Wall', '-Wextra', '-o', join(root, 'dist', 'zonix-pty'), join(root, 'src/metadata/zonix-pty.c')],
  { stdio: 'inherit' },
);
if (pty.error || pty.status !== 0) {
  console.error('build: could not build zonix-pty (needs cc)');
  process.exit(1);
}
for (const tool of ['mdata-put', 'mdata-delete', 'mdata-list', 'dmidecode']) {
  rmSync(join(sbin, tool), { force: true });
  symlinkSync('mdata-get', join(sbin, tool));
}

// The web console (src/web: Preact, xterm.js, uPlot), built by Vite into dist/web, which zonixd serves.
const { build: viteBuild } = await import('vite');
await viteBuild({
  configFile: false,
  root: join(root, 'src/web'),
  base: '/',
  logLevel: 'warn',
  esbuild: { jsx: 'automatic', jsxImportSource: 'preact' },
  build: { outDir: join(root, 'dist/web'), emptyOutDir: true, chunkSizeWarningLimit: 1024 },
});
