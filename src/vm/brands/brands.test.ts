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

  it('zone brands boot from an image; HVM brands are stored only until their driver runs QEMU', () => {
    for (const info of Object.values(BRANDS)) {
      const d = brandDriver(info.name)!;
      assert.equal(d.bootable, !info.hvm, info.name);
      assert.equal(d.rootFromImage, !info.hvm, info.name);
    }
  });

  it('imgadm create rules are in the brand records', () => {
    assert.equal(BRANDS.kvm.image.creatable, false);
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
