/**
 * The kvm brand for real, under TCG: a guest booted from the built-in small guest disk (given with
 * nocreate) and a second disk made as a volume, one NIC on an etherstub shared with a zone. The guest
 * reads `sdc:uuid` on its ttyS1 and writes it back; the zone pings it; `vmadm info` asks QEMU; an
 * ACPI stop ends it; it boots again; its delete leaves nothing behind.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { connect } from 'node:net';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
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
  let guestImage = '';
  let disk0 = '';
  let disk1 = '';
  const disk = join(env.dir, 'guest.raw');
  const get = async (u: string) => JSON.parse(await ok('vmadm', ['get', u])) as Record<string, unknown>;
  const imageUuid = async (name: string) => {
    const list = JSON.parse(await ok('imgadm', ['list', '-P', P, '-j'])) as {
      manifest: Record<string, unknown>;
    }[];
    const m = list.find((i) => i.manifest.name === name);
    assert.ok(m, `image ${name} installed`);
    return String(m.manifest.uuid);
  };
  const volsize = async (ds: string) =>
    (await ok('zfs', ['get', '-Hp', '-o', 'value', 'volsize', ds])).trim();
  const guestBooted = (u: string, ms = 180_000) =>
    waitFor(
      `guest ${u} to write back its uuid`,
      async () => ((await get(u)).customer_metadata as Record<string, unknown>)['guest-booted'] === u,
      ms,
    );

  let zoneImage = '';
  before(async () => {
    const image = await makeZonePool(env, P, { size: '2G' });
    zoneImage = image;
    // The small guest, as imgadm offers it: a zvol image built here (its kernel cached).
    await ok('imgadm', ['import', '-P', P, 'zonix-guest']);
    guestImage = await imageUuid('zonix-guest');
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

  it('refuses bad HVM input with SmartOS messages, creating nothing', async () => {
    const before = [
      await ok('vmadm', ['list', '-H', '-o', 'uuid']),
      await ok('zfs', ['list', '-H', '-r', P]),
    ];
    const cases: [Record<string, unknown>, RegExp][] = [
      [
        { brand: 'kvm', ram: 128, disks: [{ path: disk, size: 64, model: 'virtio' }] },
        /you cannot specify a path for a disk unless you set nocreate=true/,
      ],
      [
        { brand: 'kvm', ram: 128, disks: [{ size: 16, model: 'floppy' }] },
        /"floppy" is not a valid disk model for kvm brand/,
      ],
      [
        {
          brand: 'kvm',
          ram: 128,
          disks: [{ size: 16, model: 'virtio' }],
          nics: [{ nic_tag: S, model: 'ne2k' }],
        },
        /"ne2k" is not a valid NIC model for kvm brand\. Valid are: virtio,e1000,rtl8139/,
      ],
    ];
    for (const [payload, message] of cases) {
      const r = await cli('vmadm', ['create'], { input: JSON.stringify(payload) });
      const made = /Successfully created VM (\S+)/.exec(r.stderr);
      if (made) uuids.push(made[1]!);
      assert.equal(r.code, 1, `${JSON.stringify(payload)}: ${r.stderr}`);
      assert.match(r.stderr, message, JSON.stringify(payload));
    }
    const sysrq = await cli('vmadm', ['start', zone, 'order=c', 'order=d']);
    assert.equal(sysrq.code, 2);
    assert.match(sysrq.stderr, /You can only specify 'order' once when starting a VM/);
    assert.deepEqual(
      [await ok('vmadm', ['list', '-H', '-o', 'uuid']), await ok('zfs', ['list', '-H', '-r', P])],
      before,
    );
    // HVM properties on a zone brand are not errors on SmartOS: they are removed from the payload
    // (with a warning in the log), and make no volumes.
    const z = await createVm(env.dir, {
      brand: 'joyent-minimal',
      image_uuid: zoneImage,
      vcpus: 2,
      autoboot: false,
      disks: [{ size: 16, model: 'virtio' }],
    });
    const zvm = await get(z);
    assert.equal(zvm.vcpus, undefined);
    assert.equal(zvm.disks, undefined);
    assert.equal((await cli('zfs', ['list', `${P}/${z}/disk0`])).code, 1);
    await ok('vmadm', ['delete', z]);
    // `ram` above `max_physical_memory` on create: SmartOS raises the cap to ram + 256 MiB (the
    // minimum overhead); the error (`cannot be lower than vm.ram`) is an update's.
    const k = await createVm(env.dir, {
      brand: 'kvm',
      ram: 512,
      max_physical_memory: 256,
      autoboot: false,
      disks: [{ size: 16, model: 'virtio' }],
    });
    assert.equal((await get(k)).max_physical_memory, 768);
    await ok('vmadm', ['delete', k]);
  });

  it('boots, answers metadata on ttyS1 and is reachable from a zone on its etherstub', async () => {
    guest = await createVm(env.dir, {
      brand: 'kvm',
      alias: 'tiny',
      ram: 128,
      vcpus: 1,
      disks: [
        { image_uuid: guestImage, boot: true, model: 'virtio' },
        { size: 32, model: 'virtio' },
      ],
      nics: [{ nic_tag: S, ips: ['10.232.0.2/24'], model: 'virtio', primary: true }],
      vnc_port: 0,
      vnc_password: 'zonix123',
    });
    uuids.push(guest);
    const vm = await get(guest);
    assert.equal(vm.state, 'running');
    const disks = vm.disks as Record<string, unknown>[];
    assert.equal(disks.length, 2);
    disk0 = `/dev/zvol/rdsk/${P}/${guest}/disk0`;
    disk1 = `/dev/zvol/rdsk/${P}/${guest}/disk1`;
    assert.deepEqual(
      disks.map((d) => [d.path, d.size, d.image_uuid]),
      [
        [disk0, 64, guestImage],
        [disk1, 32, undefined],
      ],
    );
    // The boot disk is a clone of the image's @final; the other is empty at its size.
    assert.equal(
      (await ok('zfs', ['get', '-H', '-o', 'value', 'origin', `${P}/${guest}/disk0`])).trim(),
      `${P}/${guestImage}@final`,
    );
    assert.equal(await volsize(`${P}/${guest}/disk1`), String(32 * 1024 * 1024));
    await guestBooted(guest);
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
    assert.ok(existsSync(`/proc/${pid}/root${disk0}`));
    // VNC on a free TCP port of the host, QEMU's socket behind it, asking for the password.
    const vnc = (
      JSON.parse(await ok('vmadm', ['info', guest, 'vnc'])) as { vnc: { host: string; port: number } }
    ).vnc;
    assert.equal(vnc.host, '127.0.0.1');
    assert.ok(vnc.port > 0);
    const rfb = await new Promise<Buffer>((resolve, reject) => {
      const s = connect(vnc.port, vnc.host);
      let got = Buffer.alloc(0);
      s.on('data', (d: Buffer) => {
        got = Buffer.concat([got, d]);
        if (got.length === 12) s.write('RFB 003.008\n');
        else if (got.length > 12) {
          s.destroy();
          resolve(got);
        }
      });
      s.on('error', reject);
      setTimeout(() => reject(new Error('no RFB answer')), 10_000).unref();
    });
    assert.equal(rfb.toString('latin1', 0, 12), 'RFB 003.008\n');
    // Security types after the version: [count, types...]; 2 is VNC authentication (the password).
    assert.deepEqual([...rfb.subarray(13, 13 + rfb[12]!)], [2]);
    // An NMI reaches the guest through QMP; unknown kinds are refused.
    const nmi = await cli('vmadm', ['sysrq', guest, 'nmi']);
    assert.equal(nmi.code, 0, nmi.stderr);
    assert.equal(nmi.stderr.trim(), `Sent NMI to VM ${guest}`);
    const nope = await cli('vmadm', ['sysrq', guest, 'reboot']);
    assert.equal(nope.code, 1);
    assert.match(nope.stderr, /Invalid sysrq type: reboot/);
  });

  it('stops by ACPI (stopping meanwhile), and its disks change while stopped', async () => {
    const stopping = cli('vmadm', ['stop', '-t', '120', guest]);
    let seen = '';
    await waitFor(
      'the stop to show',
      async () => (seen = String((await get(guest)).state)) !== 'running',
      30_000,
    );
    const done = await stopping;
    assert.equal(done.code, 0, done.stderr);
    assert.ok(seen === 'stopping' || seen === 'stopped', seen);
    const stopped = await get(guest);
    assert.equal(stopped.state, 'stopped');
    assert.equal(stopped.exit_status, 0);
    const update = (payload: unknown) => cli('vmadm', ['update', guest], { input: JSON.stringify(payload) });
    // Grow; shrinking needs dangerous_allow_shrink, and is refused without it, changing nothing.
    assert.equal((await update({ update_disks: [{ path: disk1, size: 48 }] })).code, 0);
    assert.equal(await volsize(`${P}/${guest}/disk1`), String(48 * 1024 * 1024));
    const shrink = await update({ update_disks: [{ path: disk1, size: 40 }] });
    assert.equal(shrink.code, 1);
    assert.match(shrink.stderr, /dangerous_allow_shrink/);
    assert.equal(await volsize(`${P}/${guest}/disk1`), String(48 * 1024 * 1024));
    assert.equal(((await get(guest)).disks as { size: number }[])[1]!.size, 48);
    const ok2 = await update({ update_disks: [{ path: disk1, size: 40, dangerous_allow_shrink: true }] });
    assert.equal(ok2.code, 0, ok2.stderr);
    assert.equal(await volsize(`${P}/${guest}/disk1`), String(40 * 1024 * 1024));
    // Add one (the next number), then remove it: its volume goes with it.
    assert.equal((await update({ add_disks: [{ size: 16, model: 'virtio' }] })).code, 0);
    const disk2 = `/dev/zvol/rdsk/${P}/${guest}/disk2`;
    assert.deepEqual(
      ((await get(guest)).disks as { path: string }[]).map((d) => d.path),
      [disk0, disk1, disk2],
    );
    assert.equal(await volsize(`${P}/${guest}/disk2`), String(16 * 1024 * 1024));
    assert.equal((await update({ remove_disks: [disk2] })).code, 0);
    assert.equal((await cli('zfs', ['list', `${P}/${guest}/disk2`])).code, 1);
    assert.equal(((await get(guest)).disks as unknown[]).length, 2);
  });

  it('boots again with a cdrom for this boot only', async () => {
    await ok('vmadm', ['start', guest, 'order=c', `cdrom=${disk},ide`]);
    assert.equal((await get(guest)).state, 'running');
    const block = JSON.stringify(JSON.parse(await ok('vmadm', ['info', guest, 'block'])));
    assert.ok(block.includes(disk), 'the cdrom is attached');
    assert.ok(!JSON.stringify((await get(guest)).disks).includes(disk), 'but not kept in the manifest');
    await ok('vmadm', ['stop', '-F', guest]);
  });

  it('makes a zvol image of the stopped VM, and installs raw and qcow2 disks as images', async () => {
    const made = await cli('imgadm', [
      'create',
      '-o',
      join(env.dir, 'g2'),
      guest,
      'name=g2',
      'version=1.0.0',
    ]);
    assert.equal(made.code, 0, made.stderr);
    const manifest = JSON.parse(readFileSync(join(env.dir, 'g2.imgmanifest'), 'utf8')) as Record<
      string,
      unknown
    >;
    assert.equal(manifest.type, 'zvol');
    assert.equal(manifest.image_size, 64);
    assert.equal(manifest.os, 'linux');
    await ok('imgadm', [
      'install',
      '-P',
      P,
      '-m',
      join(env.dir, 'g2.imgmanifest'),
      '-f',
      join(env.dir, 'g2.zfs'),
    ]);
    assert.equal(await imageUuid('g2'), manifest.uuid);
    // A raw disk and the same as qcow2, each with a manifest of its own.
    const qcow = join(env.dir, 'guest.qcow2');
    execFileSync('qemu-img', ['convert', '-f', 'raw', '-O', 'qcow2', disk, qcow]);
    for (const [name, file] of [
      ['raw-guest', disk],
      ['qcow-guest', qcow],
    ] as const) {
      const m = {
        v: 2,
        uuid: crypto.randomUUID(),
        name,
        version: '1',
        type: 'zvol',
        os: 'linux',
        image_size: 64,
      };
      const mf = join(env.dir, `${name}.json`);
      writeFileSync(mf, JSON.stringify(m));
      await ok('imgadm', ['install', '-P', P, '-m', mf, '-f', file]);
      assert.equal(await imageUuid(name), m.uuid);
      assert.equal(await volsize(`${P}/${m.uuid}`), String(64 * 1024 * 1024));
    }
    // The converted one boots and answers.
    const vm2 = await createVm(env.dir, {
      brand: 'kvm',
      ram: 128,
      disks: [{ image_uuid: await imageUuid('qcow-guest'), boot: true, model: 'virtio' }],
    });
    uuids.push(vm2);
    await guestBooted(vm2);
    await ok('vmadm', ['delete', vm2]);
    uuids.splice(uuids.indexOf(vm2), 1);
  });

  it('is deleted without leftovers', async () => {
    await ok('vmadm', ['delete', guest]);
    uuids.splice(uuids.indexOf(guest), 1);
    assert.equal((await cli('zfs', ['list', `${P}/${guest}/disk0`])).code, 1);
  });
});
