/**
 * `imgadm`: images on the pool, as SmartOS's imgadm(8): list, get, show, avail, import, install,
 * delete, vacuum, sources, update, create. Errors print as `imgadm: error (<Code>): <message>`;
 * exit 1, 2 for usage, 3 when an image is not installed.
 * @module
 */
import { readFileSync } from 'node:fs';
import type { Writable } from 'node:stream';
import { UsageError, ZonixError } from '../common/index.ts';
import {
  allSources,
  checkManifest,
  createImage,
  ImageCreateError,
  parseCreateArgv,
  parseFieldArgs,
  parseManifestData,
  savePrefixFor,
  describeImage,
  ImgadmError,
  importImage,
  installFromFiles,
  installDockerArchive,
  openSource,
  readSourceConfig,
  addSource,
  deleteSource,
  storeFor,
  unusedImages,
  BUILTIN_URL,
  serveImages,
  type ImageManifest,
  type ImageSource,
} from '../images/index.ts';
import { getopt, has, last } from './getopt.ts';
import { formatTable } from './table.ts';

const USAGE = `Usage:
    imgadm [OPTIONS] COMMAND [ARGS...]

Commands:
    list [-j|-H] [-o FIELD,...] [-s FIELD,...] [FIELD=VALUE ...]   installed images
    get [-P POOL] UUID                  an installed image's manifest and pool (alias: info)
    show UUID|NAME[@VERSION]            an image's manifest, from the sources
    avail [-j|-H] [-o ...] [-s ...] [FIELD=VALUE ...]   images the sources offer (alias: available)
    import [-P POOL] [-q] [-S URL] UUID|NAME[@VERSION]|REGISTRY/REPO[:TAG]  fetch and install an image
    install [-P POOL] [-q] [-m MANIFEST] -f FILE        install from local files (no -m: a docker
                                        save or OCI layout tarball)
    delete [-P POOL] UUID               delete an image nothing is cloned from (alias: destroy)
    vacuum [-n] [-f]                    delete every image nothing is cloned from
    sources [-v|-j] [-a URL [-t imgapi|docker] [-k] [-f]] [-d URL]   image sources
    update [-n] [UUID ...]              refresh installed manifests from the sources
    serve [-P POOL] [-b ADDR] [-p PORT] serve the installed images over IMGAPI (Zonix)
    create [-m MANIFEST|-] [-o PATH] [-c none|gzip|bzip2|xz] [-i] [-q] [--max-origin-depth N]
           VM-UUID [FIELD=VALUE ...]    make an image (PATH.imgmanifest, PATH.zfs[.EXT]) from a
                                        stopped VM; -s (prepare-image script) and -p are not supported
`;

export interface Io {
  stdout: Writable;
  stderr: Writable;
}

const LIST_FIELDS = 'uuid,name,version,os,type,pub';

export async function main(argv: string[], io: Io = { stdout: process.stdout, stderr: process.stderr }) {
  try {
    return await dispatch(argv, io);
  } catch (err) {
    return reportImgadm(err, io.stderr);
  }
}

/** imgadm's own error line: `imgadm: error (<Code>): <message>`. */
export function reportImgadm(err: unknown, stderr: Writable): number {
  if (err instanceof UsageError) {
    stderr.write(`imgadm: error (Usage): ${err.message}\n`);
    if (err.usage) stderr.write(err.usage);
    return 2;
  }
  if (err instanceof ZonixError) {
    stderr.write(`imgadm: error (${err.code}): ${err.message}\n`);
    return err.exitCode;
  }
  stderr.write(
    `imgadm: error (InternalError): ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`,
  );
  return 1;
}

async function dispatch(argv: string[], io: Io): Promise<number> {
  const [cmd, ...args] = argv;
  if (cmd === undefined) throw new UsageError('no command given', USAGE);
  if (cmd === 'help' || cmd === '-h' || cmd === '--help' || cmd === '-?') {
    io.stdout.write(USAGE);
    return 0;
  }
  switch (cmd) {
    case 'list':
      return list(args, io);
    case 'get':
    case 'info':
      return get(args, io);
    case 'show':
      return showCmd(args, io);
    case 'avail':
    case 'available':
      return avail(args, io);
    case 'import':
      return doImport(args, io);
    case 'install':
      return install(args, io);
    case 'delete':
    case 'destroy':
      return remove(args, io);
    case 'vacuum':
      return vacuum(args, io);
    case 'sources':
      return sources(args, io);
    case 'update':
      return update(args, io);
    case 'serve':
      return serve(args, io);
    case 'create':
      return create(args, io);
    default:
      throw new UsageError(`unknown command: "${cmd}"`, USAGE);
  }
}

// ---- tables and filters ----------------------------------------------------------------------------

interface Row {
  manifest: ImageManifest;
  zpool?: string;
  source?: string;
  clones?: number;
}

/** A row's field, computed fields included (pub, published, source, clones, size). */
function field(r: Row, name: string): unknown {
  const m = r.manifest;
  switch (name) {
    case 'pub':
    case 'published_date':
      return m.published_at?.slice(0, 10);
    case 'published':
      return m.published_at?.replace(/\.\d+Z$/, 'Z');
    case 'source':
      return r.source;
    case 'zpool':
      return r.zpool;
    case 'clones':
      return r.clones;
    case 'size':
      return m.files?.[0]?.size;
  }
  let cur: unknown = m;
  for (const part of name.split('.')) {
    if (typeof cur !== 'object' || cur === null) return undefined;
    cur = (cur as Record<string, unknown>)[part];
  }
  return cur;
}

function cell(value: unknown): string {
  if (value === undefined || value === null) return '-';
  return typeof value === 'string' ? value : JSON.stringify(value);
}

/** `FIELD=VALUE` exact, `FIELD=true|false`, `FIELD=~SUB` substring. */
function parseFilters(args: string[]): ((r: Row) => boolean)[] {
  return args.map((a) => {
    const eq = a.indexOf('=');
    if (eq <= 0) throw new UsageError(`invalid filter: "${a}" (must be of the form "field=value")`);
    const key = a.slice(0, eq);
    const want = a.slice(eq + 1);
    return (r: Row) => {
      const v = field(r, key);
      if (want.startsWith('~')) return v !== undefined && cell(v).includes(want.slice(1));
      if (want === 'true' || want === 'false') return String(v) === want;
      return v !== undefined && cell(v) === want;
    };
  });
}

function sortRows(rows: Row[], spec: string): Row[] {
  const keys = spec
    .split(',')
    .map((k) =>
      k.startsWith('-') ? { k: k.slice(1), desc: true } : { k: k.replace(/^\+/, ''), desc: false },
    );
  return [...rows].sort((a, b) => {
    for (const { k, desc } of keys) {
      const va = field(a, k);
      const vb = field(b, k);
      if (va === vb) continue;
      if (va === undefined) return 1;
      if (vb === undefined) return -1;
      const c = cell(va) < cell(vb) ? -1 : 1;
      return desc ? -c : c;
    }
    return 0;
  });
}

function printRows(rows: Row[], args: string[], io: Io, defaults: { fields: string; sort: string }): number {
  const p = getopt(args, 'jHo:s:P:', USAGE);
  const filters = parseFilters(p.rest);
  let shown = rows.filter((r) => filters.every((f) => f(r)));
  shown = sortRows(shown, last(p, 's') ?? defaults.sort);
  if (has(p, 'j')) {
    io.stdout.write(
      JSON.stringify(
        shown.map((r) => ({ manifest: r.manifest, zpool: r.zpool, source: r.source })),
        null,
        2,
      ) + '\n',
    );
    return 0;
  }
  const fields = (last(p, 'o') ?? defaults.fields).split(',');
  const table = shown.map((r) => fields.map((f) => cell(field(r, f))));
  io.stdout.write(
    formatTable(
      fields.map((f) => ({ header: f.toUpperCase() })),
      table,
      { scripted: has(p, 'H') },
    ),
  );
  return 0;
}

function poolArg(args: string[]): string | undefined {
  const i = args.indexOf('-P');
  return i >= 0 ? args[i + 1] : undefined;
}

// ---- commands --------------------------------------------------------------------------------------

async function list(args: string[], io: Io): Promise<number> {
  const store = storeFor(poolArg(args));
  const rows = store.list().map((img) => ({ ...img, clones: store.clones(img.manifest.uuid).length }));
  return printRows(rows, args, io, { fields: LIST_FIELDS, sort: 'published_at,name' });
}

async function get(args: string[], io: Io): Promise<number> {
  const p = getopt(args, 'P:r', USAGE);
  if (p.rest.length !== 1) throw new UsageError('incorrect number of arguments', USAGE);
  const store = storeFor(last(p, 'P'));
  const img = store.require(p.rest[0]!);
  io.stdout.write(JSON.stringify(img, null, 2) + '\n');
  return 0;
}

async function showCmd(args: string[], io: Io): Promise<number> {
  const p = getopt(args, '', USAGE);
  if (p.rest.length !== 1) throw new UsageError('incorrect number of arguments', USAGE);
  const store = storeFor();
  const { findImage } = await import('../images/index.ts');
  const found = await findImage(allSources(store.pool), p.rest[0]!).catch((err: unknown) => {
    if (err instanceof ImgadmError && err.code === 'ImageNotFound')
      throw new ImgadmError('ImageNotFound', `image "${p.rest[0]!}" was not found`);
    throw err;
  });
  io.stdout.write(JSON.stringify(found.manifest, null, 2) + '\n');
  return 0;
}

async function avail(args: string[], io: Io): Promise<number> {
  const store = storeFor(poolArg(args));
  const rows: Row[] = [];
  for (const source of allSources(store.pool)) {
    const manifests = await source.list().catch((err: unknown) => {
      io.stderr.write(`imgadm: warning: source "${source.url}" is unavailable: ${(err as Error).message}\n`);
      return [];
    });
    for (const manifest of manifests) rows.push({ manifest, source: source.url });
  }
  return printRows(rows, args, io, { fields: LIST_FIELDS, sort: 'published_at,name' });
}

async function doImport(args: string[], io: Io): Promise<number> {
  const p = getopt(args, 'P:qS:C:', USAGE);
  if (p.rest.length !== 1) throw new UsageError('incorrect number of arguments', USAGE);
  const store = storeFor(last(p, 'P'));
  const url = last(p, 'S');
  const quiet = has(p, 'q');
  let sources: ImageSource[] | undefined;
  if (url !== undefined) {
    const cfg = readSourceConfig(store.pool).find((s) => s.url === url) ?? { url, type: 'imgapi' as const };
    sources = url === BUILTIN_URL ? allSources(store.pool).slice(0, 1) : [openSource(cfg)];
  }
  const bar = progressBar(io.stderr, !quiet);
  const results = await importImage(store, p.rest[0]!, {
    ...(sources ? { sources } : {}),
    onBytes: bar.update,
  }).finally(bar.done);
  if (!quiet) {
    for (const r of results) {
      io.stdout.write(
        r.installed
          ? `Imported image ${describeImage(r.manifest)} from "${r.source}"\n`
          : `Image ${describeImage(r.manifest)} is already installed, skipping\n`,
      );
    }
  }
  return 0;
}

async function install(args: string[], io: Io): Promise<number> {
  const p = getopt(args, 'P:qm:f:', USAGE);
  const m = last(p, 'm');
  const f = last(p, 'f');
  if (f === undefined) throw new UsageError('-f FILE is required', USAGE);
  const store = storeFor(last(p, 'P'));
  const bar = progressBar(io.stderr, !has(p, 'q'));
  // Without -m, the file is a docker save or OCI layout archive, which carries its own description.
  const r = await (
    m === undefined
      ? installDockerArchive(store, f, { onBytes: bar.update })
      : installFromFiles(store, m, f, { onBytes: bar.update })
  ).finally(bar.done);
  if (!has(p, 'q'))
    io.stdout.write(
      r.installed
        ? `Installed image ${describeImage(r.manifest)}\n`
        : `Image ${describeImage(r.manifest)} is already installed, skipping\n`,
    );
  return 0;
}

async function remove(args: string[], io: Io): Promise<number> {
  const p = getopt(args, 'P:', USAGE);
  if (p.rest.length !== 1) throw new UsageError('incorrect number of arguments', USAGE);
  const store = storeFor(last(p, 'P'));
  const img = await store.delete(p.rest[0]!);
  io.stdout.write(`Deleted image ${describeImage(img.manifest)}\n`);
  return 0;
}

async function vacuum(args: string[], io: Io): Promise<number> {
  const p = getopt(args, 'nfP:', USAGE);
  const store = storeFor(last(p, 'P'));
  const unused = unusedImages(store);
  if (unused.length === 0) {
    io.stdout.write('Found no unused images to delete\n');
    return 0;
  }
  if (has(p, 'n')) {
    for (const m of unused) io.stdout.write(`Would delete image ${describeImage(m)}\n`);
    return 0;
  }
  if (!has(p, 'f') && !(await confirm(io, `Delete ${unused.length} unused image(s)? [y/N] `)))
    throw new ImgadmError('ImportError', 'vacuum aborted (use -f to delete without asking)');
  for (const m of unused) {
    await store.delete(m.uuid);
    io.stdout.write(`Deleted image ${describeImage(m)}\n`);
  }
  return 0;
}

async function confirm(io: Io, question: string): Promise<boolean> {
  if (!process.stdin.isTTY) return false;
  io.stderr.write(question);
  const { createInterface } = await import('node:readline/promises');
  const rl = createInterface({ input: process.stdin, output: process.stderr });
  try {
    return /^y(es)?$/i.test((await rl.question('')).trim());
  } finally {
    rl.close();
  }
}

async function sources(args: string[], io: Io): Promise<number> {
  const p = getopt(args, 'vja:d:t:kfcP:', USAGE);
  const store = storeFor(last(p, 'P'));
  const current = readSourceConfig(store.pool);
  const add = last(p, 'a');
  const del = last(p, 'd');
  if (add !== undefined && del !== undefined) throw new UsageError('cannot use -a and -d together', USAGE);
  if (add !== undefined) {
    const r = await addSource(
      store.pool,
      { url: add, type: last(p, 't') ?? 'imgapi', insecure: has(p, 'k') },
      { force: has(p, 'f') },
    ).catch((err: unknown) => {
      throw err instanceof UsageError ? new UsageError(err.message, USAGE) : err;
    });
    io.stdout.write(
      r.added
        ? `Added "${r.source.type}" image source "${r.source.url}"\n`
        : `Already have "${r.source.type}" image source "${r.source.url}", no change\n`,
    );
    return 0;
  }
  if (del !== undefined) {
    const url = del.replace(/\/+$/, '');
    io.stdout.write(
      deleteSource(store.pool, url)
        ? `Deleted image source "${url}"\n`
        : `Do not have image source "${url}", no change\n`,
    );
    return 0;
  }
  const all = [{ url: BUILTIN_URL, type: 'builtin' }, ...current];
  if (has(p, 'j')) io.stdout.write(JSON.stringify(all, null, 2) + '\n');
  else if (has(p, 'v'))
    io.stdout.write(
      formatTable(
        [{ header: 'URL' }, { header: 'TYPE' }],
        all.map((s) => [s.url, s.type]),
      ),
    );
  else io.stdout.write(all.map((s) => `${s.url}\n`).join(''));
  return 0;
}

async function update(args: string[], io: Io): Promise<number> {
  const p = getopt(args, 'nP:', USAGE);
  const store = storeFor(last(p, 'P'));
  const wanted = new Set(p.rest);
  const srcs = allSources(store.pool);
  for (const img of store.list()) {
    if (wanted.size && !wanted.has(img.manifest.uuid)) continue;
    let fresh: ImageManifest | undefined;
    for (const s of srcs) {
      fresh = await s.get(img.manifest.uuid).catch(() => undefined);
      if (fresh) break;
    }
    if (!fresh || JSON.stringify(fresh) === JSON.stringify(img.manifest)) continue;
    io.stdout.write(
      `${has(p, 'n') ? 'Would update' : 'Updated'} manifest of image ${describeImage(fresh)}\n`,
    );
    if (!has(p, 'n')) store.saveManifest({ ...img, manifest: checkManifest(fresh) });
  }
  return 0;
}

// ---- progress --------------------------------------------------------------------------------------

/** A bar on stderr when it is a terminal; nothing otherwise (machine output stays clean). */
function progressBar(err: Writable, wanted: boolean) {
  const tty = wanted && Boolean((err as { isTTY?: boolean }).isTTY);
  let last = 0;
  let drawn = false;
  const mib = (n: number) => `${(n / 1048576).toFixed(1)}MiB`;
  return {
    update: (done: number, total?: number) => {
      if (!tty) return;
      const now = Date.now();
      if (now - last < 100 && (!total || done < total)) return;
      last = now;
      drawn = true;
      if (total) {
        const pct = Math.min(100, Math.floor((done * 100) / total));
        const width = 30;
        const fill = Math.round((pct / 100) * width);
        err.write(
          `\r[${'='.repeat(fill)}${' '.repeat(width - fill)}] ${pct}% ${mib(done)}/${mib(total)}\x1b[K`,
        );
      } else err.write(`\r${mib(done)}\x1b[K`);
    },
    done: () => {
      if (drawn) err.write('\n');
    },
  };
}

/** Serve this pool's images to other hosts (`imgadm sources -a http://<this host>:<port>`). */
async function serve(args: string[], io: Io): Promise<number> {
  const p = getopt(args, 'P:b:p:', USAGE);
  const store = storeFor(last(p, 'P'));
  const port = Number(last(p, 'p') ?? '8080');
  if (!Number.isInteger(port) || port < 0 || port > 65535)
    throw new UsageError(`invalid port: "${last(p, 'p')!}"`, USAGE);
  const host = last(p, 'b') ?? '127.0.0.1';
  const server = serveImages(store);
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, resolve);
  });
  const addr = server.address();
  const bound = typeof addr === 'object' && addr ? addr.port : port;
  io.stdout.write(
    `Serving images of pool ${store.pool.name} at http://${host.includes(':') ? `[${host}]` : host}:${bound}\n`,
  );
  await new Promise<void>((resolve) => {
    const stop = () => server.close(() => resolve());
    process.once('SIGINT', stop);
    process.once('SIGTERM', stop);
  });
  return 0;
}

/** `imgadm create`: an image file and manifest from a stopped VM; progress lines on stdout, as SmartOS. */
async function create(args: string[], io: Io): Promise<number> {
  const a = parseCreateArgv(args, USAGE);
  if (a.help) {
    io.stdout.write(USAGE);
    return 0;
  }
  if (a.publish !== undefined)
    throw new ImageCreateError(
      'NotSupported',
      '-p,--publish is not supported: use "imgadm create -o" and publish the files',
    );
  if (a.prepareScript !== undefined)
    throw new ImageCreateError(
      'NotSupported',
      '-s (prepare-image script) is not supported: it needs the metadata service (sdc:operator-script, ' +
        '"mdata-put prepare-image:state"); prepare and stop the VM, then run "imgadm create" without -s',
    );
  const fields = parseFieldArgs(a.fields);
  let data: Record<string, unknown> = {};
  if (a.manifestFile !== undefined) {
    let text: string;
    try {
      text = readFileSync(a.manifestFile === '-' ? 0 : a.manifestFile, 'utf8');
    } catch (err) {
      throw new ImageCreateError(
        'FileSystem',
        `cannot read manifest "${a.manifestFile}": ${(err as Error).message}`,
      );
    }
    data = parseManifestData(text, a.manifestFile);
  }
  const manifest = { ...data, ...fields };
  // A byte counter while the image file is written (on a terminal), ended before the next line.
  let bar: ReturnType<typeof progressBar> | undefined;
  const endBar = () => {
    bar?.done();
    bar = undefined;
  };
  await createImage({
    vmUuid: a.vmUuid,
    manifest,
    ...(a.compression ? { compression: a.compression } : {}),
    incremental: a.incremental,
    ...(a.maxOriginDepth !== undefined ? { maxOriginDepth: a.maxOriginDepth } : {}),
    savePrefix: savePrefixFor(manifest, a.outputTemplate),
    log: (line) => {
      endBar();
      io.stdout.write(`${line}\n`);
      if (line.startsWith('Sending image file')) bar = progressBar(io.stderr, !a.quiet);
    },
    onBytes: (n) => bar?.update(n),
  }).finally(endBar);
  return 0;
}
