/**
 * A client no one here wrote: Debian's cloud-init, unpatched, in an lx zone of the built-in
 * `debian-12-cloudinit` image, provisions the zone from Zonix's metadata through its SmartOS
 * datasource (the V2 protocol on /dev/ttyS1): the hostname, root's authorized keys, and user-script.
 * Built for real with debootstrap (a few minutes from the host's Debian mirror), so outside the
 * default test run: ZONIX_LONG_TESTS=1 npm test runs it.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { join } from 'node:path';
import { cli, createVm, isRoot, leaks, makeTestEnv, ok, teardown } from '../helpers/host.ts';

const skip = !isRoot
  ? 'needs root'
  : !process.env.ZONIX_LONG_TESTS
    ? 'long test: set ZONIX_LONG_TESTS=1'
    : false;

describe('cloud-init in an lx zone, from Zonix metadata', { skip, timeout: 1_800_000 }, () => {
  const env = makeTestEnv('ci');
  const P = `${env.prefix}p`;
  const mnt = join(env.dir, 'mnt');
  process.env.ZONIX_SYSTEM_POOL = P;
  let image = '';
  let vm = '';
  const KEY = 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIHppbml4Y2xvdWRpbml0dGVzdGtleQ test@zonix';

  before(async () => {
    await ok('zpool', ['create', '-m', mnt, '-o', 'size=3G', P, join(env.dir, 'pool.img')]);
  });

  after(async () => {
    if (vm) await cli('vmadm', ['delete', vm]);
    await teardown(env, [P]);
    assert.deepEqual(leaks(env), []);
  });

  it('builds debian-12-cloudinit: cloud-init, set to the SmartOS datasource', async () => {
    const out = await ok('imgadm', ['import', '-P', P, 'debian-12-cloudinit']);
    assert.match(out, /^Imported image \S+ \(debian-12-cloudinit@12-\d+\) from "builtin"\n$/);
    image = out.split(' ')[2]!;
    const img = JSON.parse(await ok('imgadm', ['get', '-P', P, image])) as {
      manifest: { tags: Record<string, unknown> };
    };
    const packages = img.manifest.tags['zonix:packages'] as string[];
    assert.ok(packages.some((p) => p.startsWith('cloud-init=')));
  });

  it('sets the hostname, installs root_authorized_keys and runs user-script', async () => {
    vm = await createVm(env.dir, {
      brand: 'lx',
      image_uuid: image,
      kernel_version: '4.4.0',
      alias: 'ci',
      hostname: 'zone-host',
      max_physical_memory: 512,
      customer_metadata: {
        // cloud-init's local-hostname is the `hostname` key (sdc:hostname when there is none).
        hostname: 'from-cloud-init',
        root_authorized_keys: KEY,
        'user-script': '#!/bin/sh\necho "user-script ran as $(id -un)" > /root/user-script-ran\n',
      },
    });
    const cat = async (f: string) => (await cli('zlogin', [vm, 'cat', f])).stdout;
    let ran = '';
    for (let i = 0; i < 300 && !ran; i++) {
      await sleep(1000);
      ran = await cat('/root/user-script-ran');
    }
    const log = await cat('/var/log/cloud-init.log');
    assert.equal(ran, 'user-script ran as root\n', `cloud-init log:\n${log.slice(-4000)}`);
    assert.match(log, /DataSourceSmartOS|Joyent/);
    assert.ok((await cat('/root/.ssh/authorized_keys')).split('\n').includes(KEY));
    // cloud-init names the zone in its /etc/hostname (a zone may not change its running name); the
    // zone's own name is what it boots with from then on, as on SmartOS.
    assert.equal(await cat('/etc/hostname'), 'from-cloud-init\n');
    await ok('vmadm', ['reboot', vm]);
    let name = '';
    for (let i = 0; i < 100 && name !== 'from-cloud-init'; i++) {
      await sleep(200);
      name = (await cli('zlogin', [vm, 'hostname'])).stdout.trim();
    }
    assert.equal(name, 'from-cloud-init');
  });
});
