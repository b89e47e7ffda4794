/**
 * The built-in `debian-12` image: a Debian bookworm root filesystem made with debootstrap (minbase)
 * from the mirror the host's apt already uses, with sysvinit as its own init. Type `lx-dataset`.
 * The manifest records what went in: the builder revision, the mirror and the package list.
 * @module
 */
import { readFile, readdir, rm, symlink, writeFile } from 'node:fs/promises';
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

/** The `debian-12-cloudinit` variant's packages beyond the base image's. */
export const CLOUDINIT_EXTRA = ['cloud-init', 'python3-serial', 'openssh-server'];

/**
 * The variant of debian-12 with cloud-init, set up for Zonix: its SmartOS datasource reads the
 * host's metadata on /dev/ttyS1 (what SmartOS KVM guests use), the host keeps the network (cloud-init
 * leaves it alone), and root gets `root_authorized_keys` as SmartOS images give them.
 */
export function debianCloudInitManifest(mirror: string): ImageManifest {
  const m = debianManifest(mirror);
  return {
    ...m,
    uuid: stableUuid(`debian-12-cloudinit@${m.version}`),
    name: 'debian-12-cloudinit',
    description: `Debian 12 (bookworm) as debian-12, plus ${CLOUDINIT_EXTRA.join(', ')}: cloud-init's SmartOS datasource provisions it from the host's metadata.`,
  };
}

const CLOUD_CFG = `# Zonix: this image runs as an lx zone whose metadata comes from the host through SmartOS's
# metadata protocol, on /dev/ttyS1 (see Zonix's README, "Metadata").
datasource_list: [ SmartOS, None ]
datasource:
  SmartOS:
    serial_device: /dev/ttyS1
    serial_timeout: 60
# The host configures the zone's network; cloud-init leaves it as it is.
network: {config: disabled}
# As SmartOS images: root_authorized_keys are root's keys.
disable_root: false
ssh_pwauth: false
`;

/** Fill `root` with Debian; returns the packages installed (name=version). */
export async function buildDebianRoot(
  root: string,
  mirror: string,
  opts: { cloudInit?: boolean } = {},
): Promise<string[]> {
  await run(
    'debootstrap',
    ['--variant=minbase', `--include=${DEBIAN_EXTRA.join(',')}`, DEBIAN_SUITE, root, mirror],
    {
      timeoutMs: 30 * 60_000,
    },
  );
  if (opts.cloudInit) {
    // apt, not debootstrap, resolves cloud-init's dependencies (some are virtual packages); no
    // service may start in the chroot meanwhile.
    const policy = join(root, 'usr/sbin/policy-rc.d');
    await writeFile(policy, '#!/bin/sh\nexit 101\n', { mode: 0o755 });
    const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive', LC_ALL: 'C' };
    try {
      await run('chroot', [root, 'apt-get', 'update', '-qq'], { timeoutMs: 10 * 60_000, env });
      await run(
        'chroot',
        [root, 'apt-get', 'install', '-y', '-qq', '--no-install-recommends', ...CLOUDINIT_EXTRA],
        {
          timeoutMs: 30 * 60_000,
          env,
        },
      );
    } finally {
      await rm(policy, { force: true });
    }
    await writeFile(join(root, 'etc/cloud/cloud.cfg.d/90_zonix.cfg'), CLOUD_CFG);
    // The platform's tools, where the image's own programs look for them: the mdata clients, and
    // dmidecode (a zone has no SMBIOS; Zonix's answers what SmartOS gives its guests, which is how
    // cloud-init recognises the platform).
    for (const tool of ['mdata-get', 'mdata-put', 'mdata-delete', 'mdata-list', 'dmidecode']) {
      await rm(join(root, 'usr/sbin', tool), { force: true });
      await symlink(`/native/usr/sbin/${tool}`, join(root, 'usr/sbin', tool));
    }
  }
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
