/**
 * The built-in `minimal` image: a zone root made in well under a second from the host's static
 * busybox. busybox init is PID 1: it runs `/etc/rc` (which starts `/etc/rc.d/S*` scripts) and reaps
 * orphans. The layout follows SmartOS's (`/opt`, `/var/svc`, `/native` for the platform's tools).
 * @module
 */
import { createHash } from 'node:crypto';
import { chmod, copyFile, mkdir, symlink, writeFile } from 'node:fs/promises';
import { dirname, join, relative } from 'node:path';
import { isErrno } from '../../common/index.ts';
import { run } from '../../platform/index.ts';
import type { ImageManifest } from '../manifest.ts';

/** Bump when the layout or scripts change: it is part of the version and the UUID. */
export const BUILDER_REVISION = 3;
const BUSYBOX = '/bin/busybox';

export interface BusyboxInfo {
  version: string;
  applets: string[];
}

export async function busyboxInfo(path = BUSYBOX): Promise<BusyboxInfo> {
  const { stdout } = await run(path, ['--list-full'], { timeoutMs: 10_000 });
  const head = await run(path, [], { timeoutMs: 10_000, okCodes: [0, 1] });
  const m = /BusyBox v(\d+(?:\.\d+)+)/.exec(head.stdout + head.stderr);
  return { version: m?.[1] ?? 'unknown', applets: stdout.split('\n').filter(Boolean) };
}

/** A name-based UUID (version 5 layout) so that a built-in image has the same UUID on every host. */
export function stableUuid(seed: string): string {
  const h = createHash('sha1').update(`zonix-builtin:${seed}`).digest();
  h[6] = (h[6]! & 0x0f) | 0x50;
  h[8] = (h[8]! & 0x3f) | 0x80;
  const x = h.subarray(0, 16).toString('hex');
  return `${x.slice(0, 8)}-${x.slice(8, 12)}-${x.slice(12, 16)}-${x.slice(16, 20)}-${x.slice(20, 32)}`;
}

export function minimalManifest(bb: BusyboxInfo): ImageManifest {
  const version = `${bb.version}-${BUILDER_REVISION}`;
  return {
    v: 2,
    uuid: stableUuid(`minimal@${version}`),
    owner: '00000000-0000-0000-0000-000000000000',
    name: 'minimal',
    version,
    description: `A minimal zone: static BusyBox ${bb.version} with its init, a shell and ${bb.applets.length} tools.`,
    type: 'zone-dataset',
    os: 'other',
    state: 'active',
    disabled: false,
    public: true,
    published_at: '2026-11-26T00:00:00Z',
    requirements: {},
    tags: {
      'zonix:builtin': true,
      'zonix:builder': `minimal/${BUILDER_REVISION}`,
      'zonix:packages': `busybox-static ${bb.version}`,
    },
  };
}

const FILES: Record<string, string> = {
  'etc/inittab': [
    '# busybox init: run /etc/rc once at boot, /etc/rc.shutdown on the way down, and keep a shell on',
    '# the zone console (vmadm console). No ctrlaltdel: ^C on the console must not halt the zone.',
    '::sysinit:/etc/rc',
    '::respawn:/etc/rc.console',
    '::shutdown:/etc/rc.shutdown',
    '',
  ].join('\n'),
  'etc/rc': [
    '#!/bin/sh',
    '# Start every /etc/rc.d/S* script, in order, as SmartOS zones start their services.',
    'export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin:/opt/local/bin:/native/usr/sbin:/native/usr/bin',
    '[ -f /etc/hostname ] && hostname -F /etc/hostname 2>/dev/null',
    'for s in /etc/rc.d/S*; do',
    '  [ -x "$s" ] && "$s" start',
    'done',
    'exit 0',
    '',
  ].join('\n'),
  'etc/rc.console': [
    '#!/bin/sh',
    '# The zone console: a login shell for whoever attaches. With no terminal nobody can: just wait.',
    'if [ -t 0 ]; then exec /bin/sh -l; fi',
    'exec sleep 2147483647',
    '',
  ].join('\n'),
  'etc/rc.shutdown': [
    '#!/bin/sh',
    'for s in /etc/rc.d/K*; do',
    '  [ -x "$s" ] && "$s" stop',
    'done',
    'exit 0',
    '',
  ].join('\n'),
  'etc/passwd': [
    'root:x:0:0:root:/root:/bin/sh',
    'daemon:x:1:1:daemon:/:/bin/false',
    'nobody:x:65534:65534:nobody:/nonexistent:/bin/false',
    '',
  ].join('\n'),
  'etc/group': ['root:x:0:', 'daemon:x:1:', 'nogroup:x:65534:', ''].join('\n'),
  'etc/shadow': [
    'root:*:19000:0:99999:7:::',
    'daemon:*:19000:0:99999:7:::',
    'nobody:*:19000:0:99999:7:::',
    '',
  ].join('\n'),
  // SmartOS's mdata:fetch and mdata:execute for this image: what the host's metadata says, applied
  // at every boot through the mdata tools; user-script runs at the first boot only, operator-script
  // at every boot, both in the background with their output in SmartOS's log files.
  'etc/rc.d/S10mdata': [
    '#!/bin/sh',
    '[ "$1" = start ] || exit 0',
    'export PATH=/native/usr/sbin:$PATH',
    '[ -S /.zonecontrol/metadata.sock ] || [ -S /native/.zonecontrol/metadata.sock ] || exit 0',
    'svc=/var/svc',
    'mkdir -p $svc/log',
    'if h=$(mdata-get sdc:hostname 2>/dev/null) && [ -n "$h" ]; then',
    '  hostname "$h" && echo "$h" > /etc/hostname',
    'fi',
    "ns=$(mdata-get sdc:resolvers 2>/dev/null | tr -d '[]\" ' | tr , ' ')",
    'if [ -n "$ns" ]; then',
    '  for n in $ns; do echo "nameserver $n"; done > /etc/resolv.conf.mdata && mv /etc/resolv.conf.mdata /etc/resolv.conf',
    'fi',
    'if mdata-get root_authorized_keys > /tmp/.mdata-keys 2>/dev/null; then',
    '  mkdir -p /root/.ssh && chmod 700 /root/.ssh',
    '  mv /tmp/.mdata-keys /root/.ssh/authorized_keys && chmod 600 /root/.ssh/authorized_keys',
    'fi',
    'rm -f /tmp/.mdata-keys',
    'mdata-get user-data > $svc/mdata-user-data 2>/dev/null || rm -f $svc/mdata-user-data',
    'if mdata-get user-script > $svc/mdata-user-script 2>/dev/null; then',
    '  chmod 700 $svc/mdata-user-script',
    '  if [ ! -e $svc/mdata-user-script.ran ]; then',
    '    date > $svc/mdata-user-script.ran',
    '    ( echo "user-script: started $(date)"; $svc/mdata-user-script; echo "user-script: exited $?" ) \\',
    '      >> "$svc/log/smartdc-mdata:execute.log" 2>&1 < /dev/null &',
    '  fi',
    'else',
    '  rm -f $svc/mdata-user-script',
    'fi',
    'if mdata-get sdc:operator-script > $svc/mdata-operator-script 2>/dev/null; then',
    '  chmod 700 $svc/mdata-operator-script',
    '  ( echo "operator-script: started $(date)"; $svc/mdata-operator-script; echo "operator-script: exited $?" ) \\',
    '    >> "$svc/log/smartdc-mdata:operator-script.log" 2>&1 < /dev/null &',
    'else',
    '  rm -f $svc/mdata-operator-script',
    'fi',
    'exit 0',
    '',
  ].join('\n'),
  'etc/hosts': '127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost\n',
  'etc/hostname': 'localhost\n',
  'etc/resolv.conf': '',
  'etc/profile': [
    'export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin:/opt/local/bin:/native/usr/sbin:/native/usr/bin',
    'export PS1="[\\u@\\h \\w]\\$ "',
    '',
  ].join('\n'),
  'etc/motd': 'Zonix minimal zone (BusyBox)\n',
  'etc/zonix-release': '',
};

const DIRS: [string, number][] = [
  ['bin', 0o755],
  ['sbin', 0o755],
  ['usr/bin', 0o755],
  ['usr/sbin', 0o755],
  ['usr/local/bin', 0o755],
  ['etc/rc.d', 0o755],
  ['dev', 0o755],
  ['proc', 0o555],
  ['sys', 0o555],
  ['root', 0o700],
  ['home', 0o755],
  ['tmp', 0o1777],
  ['var/tmp', 0o1777],
  ['var/log', 0o755],
  ['var/run', 0o755],
  ['var/svc/log', 0o755],
  ['opt/local/bin', 0o755],
  ['native', 0o755],
  ['mnt', 0o755],
];

/** Fill `root` (an empty directory) with the minimal zone. */
export async function buildMinimalRoot(root: string, bb: BusyboxInfo, path = BUSYBOX): Promise<void> {
  for (const [d, mode] of DIRS) {
    await mkdir(join(root, d), { recursive: true });
    await chmod(join(root, d), mode);
  }
  await copyFile(path, join(root, 'bin/busybox'));
  await chmod(join(root, 'bin/busybox'), 0o755);
  for (const applet of bb.applets) {
    if (applet === 'bin/busybox') continue;
    const link = join(root, applet);
    await mkdir(dirname(link), { recursive: true });
    await symlink(relative(dirname(`/${applet}`), '/bin/busybox'), link).catch((err: unknown) => {
      if (!isErrno(err, 'EEXIST')) throw err;
    });
  }
  for (const [file, text] of Object.entries(FILES)) await writeFile(join(root, file), text);
  await writeFile(
    join(root, 'etc/zonix-release'),
    `Zonix minimal image, BusyBox ${bb.version}, builder ${BUILDER_REVISION}\n`,
  );
  for (const x of ['etc/rc', 'etc/rc.console', 'etc/rc.shutdown', 'etc/rc.d/S10mdata'])
    await chmod(join(root, x), 0o755);
  await chmod(join(root, 'etc/shadow'), 0o600);
}
