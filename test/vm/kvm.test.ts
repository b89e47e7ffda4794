/**
 * The kvm brand for real, under TCG: a guest booted from the built-in small guest disk (given with
 * nocreate) and a second disk made as a volume, one NIC on an etherstub shared with a zone. The guest
 * reads `sdc:uuid` on its ttyS1 and writes it back; the zone pings it; `vmadm info` asks QEMU; an
 * ACPI stop ends it; it boots again; its delete leaves nothing behind.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  cli,
  createVm,
  leaks,
  makeTestEnv,
  makeZonePool,
  ok,
  ROOT,
  stopMetadata,
  teardown,
  zoneTestSkip,
} from '../helpers/host.ts';

const skip = zoneTestSkip() || (existsSync('/usr/bin/qemu-system-x86_64') ? false : 'qemu missing');

const waitFor = async (what: string, fn: () => Promise<boolean>, ms: number) => {
  for (const t0 = Date.now(); Date.now() - t0 < ms;) {
    if (await fn()) return;
    await new Promise((r) => setTimeout(r, 250));
  }
  assert.fail(`timed out waiting for ${what}`);
};

describe('kvm brand: a guest under QEMU in a zone', { skip, timeout: 600_000 }, () => {
  const env = makeTestEnv('kv');
  const P = `${env.prefix}p`;
  const S = `${env.prefix}s0`;
  process.env.ZONIX_SYSTEM_POOL = P;
  const uuids: string[] = [];
  let guest = '';
  let zone = '';
  const disk = join(env.dir, 'guest.raw');
  const get = async (u: string) => JSON.parse(await ok('vmadm', ['get', u])) as Record<string, unknown>;

  before(async () => {
    const image = await makeZonePool(env, P);
    const { buildGuestDisk } = await import('../../src/images/builtin/guest.ts');
    await buildGuestDisk(disk, { mdataClient: join(ROOT, 'native/usr/sbin/mdata-get') });
    await ok('nictagadm', ['add', '-l', S]);
    zone = await createVm(env.dir, {
      brand: 'joyent-minimal',
      image_uuid: image,
      max_physical_memory: 64,
      nics: [{ nic_tag: S, ips: ['10.232.0.3/24'], primary: true }],
    });
    uuids.push(zone);
  });

  after(async () => {
    for (const u of uuids) await cli('vmadm', ['delete', u]);
    await cli('nictagadm', ['delete', '-f', S]);
    await stopMetadata(env);
    await teardown(env, [P], uuids);
    assert.deepEqual(leaks(env), []);
  });

  it('boots, answers metadata on ttyS1 and is reachable from a zone on its etherstub', async () => {
    guest = await createVm(env.dir, {
      brand: 'kvm',
      alias: 'tiny',
      ram: 128,
      vcpus: 1,
      disks: [
        { path: disk, nocreate: true, size: 64, boot: true, model: 'virtio' },
        { size: 32, model: 'virtio' },
      ],
      nics: [{ nic_tag: S, ips: ['10.232.0.2/24'], model: 'virtio', primary: true }],
    });
    uuids.push(guest);
    const vm = await get(guest);
    assert.equal(vm.state, 'running');
    const disks = vm.disks as Record<string, unknown>[];
    assert.equal(disks.length, 2);
    assert.equal(disks[1]!.path, `/dev/zvol/rdsk/${P}/${guest}/disk0`);
    assert.match(await ok('zfs', ['list', '-H', '-o', 'name,volsize', `${P}/${guest}/disk0`]), /\t32M/);
    await waitFor(
      'the guest to write back its uuid',
      async () => ((await get(guest)).customer_metadata as Record<string, unknown>)['guest-booted'] === guest,
      180_000,
    );
    await waitFor(
      'the zone to reach the guest',
      async () => (await cli('zlogin', [zone, 'ping', '-c', '1', '-W', '2', '10.232.0.2'])).code === 0,
      60_000,
    );
  });

  it('reports QEMU through vmadm info, and keeps QEMU jailed', async () => {
    const info = JSON.parse(await ok('vmadm', ['info', guest, 'status,version'])) as Record<
      string,
      Record<string, unknown>
    >;
    assert.equal(info.status!.status, 'running');
    assert.ok(info.version!.qemu);
    const bad = await cli('vmadm', ['info', guest, 'nosuch']);
    assert.equal(bad.code, 1);
    assert.match(bad.stderr, /unknown info type/);
    // QEMU keeps no capabilities, and its zone has neither the host's pool nor other disks.
    const pid = Number((await get(guest)).pid);
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    assert.match(status, /^CapEff:\s+0+$/m);
    assert.match(status, /^NoNewPrivs:\s+1$/m);
    assert.ok(!existsSync(`/proc/${pid}/root${env.dir}/zones`));
    assert.ok(existsSync(`/proc/${pid}/root${disk}`));
  });

  it('stops by ACPI, boots again and is deleted without leftovers', async () => {
    await ok('vmadm', ['stop', guest]);
    const stopped = await get(guest);
    assert.equal(stopped.state, 'stopped');
    assert.equal(stopped.exit_status, 0);
    await ok('vmadm', ['start', guest]);
    assert.equal((await get(guest)).state, 'running');
    await ok('vmadm', ['delete', guest]);
    uuids.splice(uuids.indexOf(guest), 1);
    assert.equal((await cli('zfs', ['list', `${P}/${guest}/disk0`])).code, 1);
  });
});
