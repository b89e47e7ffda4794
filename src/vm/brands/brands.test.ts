import { qemuArgv } from './qemu.ts';
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { BRANDS, brandDriver, LifecycleHooks, type LifecycleHook } from './index.ts';

const SRC = join(import.meta.dirname, '..', '..');

function sources(dir: string, out: string[] = []): string[] {
  for (const name of readdirSync(dir)) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) sources(p, out);
    else if (name.endsWith('.ts') && !name.endsWith('.test.ts')) out.push(p);
  }
  return out;
}

describe('brand drivers', () => {
  it('every brand has a driver, which carries its info record', () => {
    for (const info of Object.values(BRANDS)) assert.equal(brandDriver(info.name)?.info, info);
    assert.equal(brandDriver('solaris10'), undefined);
  });

  it('every brand boots; zone brands from an image, HVM brands from their disks', () => {
    for (const info of Object.values(BRANDS)) {
      const d = brandDriver(info.name)!;
      assert.equal(d.bootable, true, info.name);
      assert.equal(d.rootFromImage, !info.hvm, info.name);
    }
  });

  it("builds QEMU's command line from an HVM manifest: boot disk first, NIC models, sockets in /tmp", () => {
    const uuid = '2d1b6d4e-4a33-4b0a-9a43-6f3f5a3a2c11';
    const argv = qemuArgv(
      {
        uuid,
        brand: 'kvm',
        ram: 512,
        vcpus: 2,
        vnc_port: -1,
        disks: [
          { path: '/dev/zvol/rdsk/zones/x/disk1', model: 'virtio' },
          { path: '/dev/zvol/rdsk/zones/x/disk0', model: 'ide', boot: true },
          { path: '/iso/a.iso', media: 'cdrom', model: 'ide' },
        ],
        nics: [
          { mac: 'b2:00:00:00:00:01', model: 'e1000' },
          { mac: 'b2:00:00:00:00:02', model: 'virtio' },
        ],
        qemu_extra_opts: '-rtc base=localtime',
      },
      { accel: 'tcg' },
    );
    const after = (flag: string) => argv.filter((_, i) => argv[i - 1] === flag);
    assert.deepEqual(after('-m'), ['512']);
    assert.deepEqual(after('-smp'), ['2']);
    assert.deepEqual(after('-accel'), ['tcg,tb-size=64'], 'an eighth of the 512 MiB of RAM');
    assert.match(after('-drive')[0]!, /^file=\/dev\/zvol\/rdsk\/zones\/x\/disk0,/);
    assert.match(after('-drive')[2]!, /media=cdrom,readonly=on/);
    assert.deepEqual(after('-device').slice(0, 3), [
      'ide-hd,drive=disk0',
      'virtio-blk-pci,drive=disk1',
      'ide-cd,drive=disk2',
    ]);
    assert.deepEqual(after('-device').slice(3), [
      'e1000,netdev=net0,mac=b2:00:00:00:00:01',
      'virtio-net-pci,netdev=net1,mac=b2:00:00:00:00:02',
    ]);
    assert.deepEqual(after('-netdev'), [
      'tap,id=net0,ifname=tap0,script=no,downscript=no',
      'tap,id=net1,ifname=tap1,script=no,downscript=no',
    ]);
    assert.ok(after('-chardev').some((c) => c.includes('path=/tmp/vm.ttyb')));
    assert.deepEqual(after('-qmp'), ['unix:/tmp/vm.qmp,server=on,wait=off']);
    assert.ok(!argv.includes('-vnc'), 'vnc_port -1 disables VNC');
    assert.deepEqual(argv.slice(-2), ['-rtc', 'base=localtime']);
  });

  it('imgadm create rules are in the brand records', () => {
    assert.equal(BRANDS.kvm.image.holds, 'boot-disk');
    assert.equal(BRANDS.lx.image.requiresBrand, true);
    assert.equal(BRANDS.joyent.image.requiresPlatform, true);
    assert.equal(BRANDS.bhyve.image.recordsBootrom, true);
  });

  it('no brand name is compared outside the brands folder', () => {
    const names = Object.keys(BRANDS)
      .map((n) => n.replace('-', '\\-'))
      .join('|');
    const compare = new RegExp(
      `(===|!==|==|!=)\\s*'(${names})'|'(${names})'\\s*(===|!==|==|!=)|case '(${names})':`,
    );
    const found = sources(SRC)
      .filter((f) => !relative(SRC, f).startsWith(join('vm', 'brands')))
      .flatMap((f) =>
        readFileSync(f, 'utf8')
          .split('\n')
          .map((line, i) => [line, i] as const)
          .filter(([line]) => compare.test(line))
          .map(([line, i]) => `${relative(SRC, f)}:${i + 1}: ${line.trim()}`),
      );
    assert.deepEqual(found, []);
  });
});

describe('LifecycleHooks', () => {
  const vm = { uuid: 'u' };
  const ctx = { zonepath: '/z' };

  it('runs prepare and attach in order, detach and release in reverse', async () => {
    const seen: string[] = [];
    const hook = (name: string): LifecycleHook => ({
      name,
      prepare: async () => void seen.push(`prepare ${name}`),
      attach: async (_vm, { pid }) => void seen.push(`attach ${name} ${pid}`),
      detach: async () => void seen.push(`detach ${name}`),
      release: async () => void seen.push(`release ${name}`),
    });
    const hooks = new LifecycleHooks();
    hooks.add(hook('net'));
    hooks.add(hook('metadata'));
    assert.throws(() => hooks.add(hook('net')), /hook net added twice/);
    await hooks.prepare(vm, ctx);
    await hooks.attach(vm, { ...ctx, pid: 7 });
    await hooks.detach(vm, ctx);
    await hooks.release(vm, ctx);
    assert.deepEqual(seen, [
      'prepare net',
      'prepare metadata',
      'attach net 7',
      'attach metadata 7',
      'detach metadata',
      'detach net',
      'release metadata',
      'release net',
    ]);
  });

  it('a failing detach does not keep the others from running; the first failure is thrown', async () => {
    const seen: string[] = [];
    const hooks = new LifecycleHooks();
    hooks.add({ name: 'a', detach: async () => void seen.push('a') });
    hooks.add({
      name: 'b',
      detach: async () => {
        throw new Error('b failed');
      },
    });
    hooks.add({ name: 'c', detach: async () => void seen.push('c') });
    await assert.rejects(hooks.detach(vm, ctx), /b failed/);
    assert.deepEqual(seen, ['c', 'a']);
  });
});
