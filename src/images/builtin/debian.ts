/**
 * The built-in `debian-12` image: a Debian bookworm root filesystem made with debootstrap (minbase)
 * from the mirror the host's apt already uses, with sysvinit as its own init. Type `lx-dataset`.
 * The manifest records what went in: the builder revision, the mirror and the package list.
 * @module
 */
import { readFile, readdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { findTool, run } from '../../platform/index.ts';
import type { ImageManifest } from '../manifest.ts';
import { stableUuid } from './minimal.ts';

export const DEBIAN_BUILDER_REVISION = 2;
export const DEBIAN_SUITE = 'bookworm';
/** Beyond minbase: an init that runs as PID 1 in a container, and the basic network tools. */
export const DEBIAN_EXTRA = ['sysvinit-core', 'iproute2', 'procps', 'iputils-ping', 'netbase'];

/** The first Debian archive URI in apt's sources (deb822 `.sources` or one-line `.list` files). */
export function parseAptMirror(texts: string[]): string | undefined {
  for (const text of texts) {
    for (const block of text.split(/\n\s*\n/)) {
      const types = /^Types:\s*(.+)$/im.exec(block)?.[1] ?? '';
      const uris = /^URIs:\s*(\S+)/im.exec(block)?.[1];
      const suites = /^Suites:\s*(.+)$/im.exec(block)?.[1] ?? '';
      if (uris && /\bdeb\b/.test(types) && /\bbookworm\b/.test(suites) && !/security/.test(uris)) return uris;
    }
    for (const line of text.split('\n')) {
      const m = /^deb\s+(?:\[[^\]]*\]\s+)?(\S+)\s+bookworm\s/.exec(line.trim());
      if (m && !/security/.test(m[1]!)) return m[1]!;
    }
  }
  return undefined;
}

export async function aptMirror(): Promise<string> {
  const texts: string[] = [];
  for (const f of ['/etc/apt/sources.list']) texts.push(await readFile(f, 'utf8').catch(() => ''));
  const dir = '/etc/apt/sources.list.d';
  for (const f of (await readdir(dir).catch(() => [])).filter((n) => /\.(list|sources)$/.test(n)))
    texts.push(await readFile(join(dir, f), 'utf8').catch(() => ''));
  return parseAptMirror(texts) ?? 'http://deb.debian.org/debian';
}

export function debianAvailable(): boolean {
  return findTool('debootstrap') !== undefined;
}

export function debianManifest(mirror: string): ImageManifest {
  const version = `12-${DEBIAN_BUILDER_REVISION}`;
  return {
    v: 2,
    uuid: stableUuid(`debian-12@${version}`),
    owner: '00000000-0000-0000-0000-000000000000',
    name: 'debian-12',
    version,
    description: `Debian 12 (bookworm), debootstrap minbase plus ${DEBIAN_EXTRA.join(', ')}, built on this host.`,
    type: 'lx-dataset',
    os: 'linux',
    state: 'active',
    disabled: false,
    public: true,
    published_at: '2026-11-26T00:00:00Z',
    requirements: { brand: 'lx' },
    tags: {
      'zonix:builtin': true,
      'zonix:builder': `debian/${DEBIAN_BUILDER_REVISION}`,
      'zonix:mirror': mirror,
    },
  };
}

/** Fill `root` with Debian; returns the packages installed (name=version). */
export async function buildDebianRoot(root: string, mirror: string): Promise<string[]> {
  await run(
    'debootstrap',
    ['--variant=minbase', `--include=${DEBIAN_EXTRA.join(',')}`, DEBIAN_SUITE, root, mirror],
    { timeoutMs: 30 * 60_000 },
  );
  // A zone's network and hostname are set by the host; keep apt's caches out of the image.
  await writeFile(join(root, 'etc/hostname'), 'localhost\n');
  await writeFile(join(root, 'etc/resolv.conf'), '');
  // A zone has no ttyN, only its console: one getty there (root logs in without a password; only
  // the host's root can attach), and ^C on the console must not reboot the zone (no ctrlaltdel).
  const inittab = await readFile(join(root, 'etc/inittab'), 'utf8');
  await writeFile(
    join(root, 'etc/inittab'),
    inittab
      .split('\n')
      .filter((l) => !/^[^#:]*:[^:]*:(ctrlaltdel|respawn:\/sbin\/getty)/.test(l))
      .join('\n') +
      'co:2345:respawn:/sbin/agetty --autologin root --noclear --keep-baud console 115200,38400,9600 linux\n',
  );
  await run('chroot', [root, 'apt-get', 'clean'], { timeoutMs: 120_000 });
  const { stdout } = await run('chroot', [root, 'dpkg-query', '-W', '-f', '${Package}=${Version}\\n'], {
    timeoutMs: 60_000,
  });
  const packages = stdout.split('\n').filter(Boolean);
  await writeFile(
    join(root, 'etc/zonix-release'),
    `Zonix debian-12 image, builder ${DEBIAN_BUILDER_REVISION}, ${packages.length} packages\n`,
  );
  return packages;
}
