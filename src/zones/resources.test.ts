import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { buildOciSpec } from './spec.ts';
import { cgroupLimits } from './resources.ts';

const MiB = 1 << 20;

describe('cgroupLimits', () => {
  it('turns limits into cgroup settings: swap at least memory, a cap as a quota, shares at least 2', () => {
    assert.deepEqual(
      cgroupLimits({ memoryBytes: 256 * MiB, swapBytes: 128 * MiB, cpuCap: 150, cpuShares: 1, pids: 64 }),
      {
        memory: { limit: 256 * MiB, swap: 256 * MiB },
        cpu: { quota: 150_000, period: 100_000, shares: 2 },
        pids: { limit: 64 },
      },
    );
  });

  it('treats 0 and unset alike: unlimited, with the kernel default shares', () => {
    const none = {
      memory: { limit: -1, swap: -1 },
      cpu: { quota: -1, period: 100_000, shares: 1024 },
      pids: { limit: -1 },
    };
    assert.deepEqual(cgroupLimits({}), none);
    assert.deepEqual(cgroupLimits({ memoryBytes: 0, swapBytes: 0, cpuCap: 0, pids: 0 }), none);
  });

  it('works out only the fields asked for', () => {
    assert.deepEqual(cgroupLimits({ cpuCap: 50, cpuShares: 10 }, ['cpuCap']), {
      cpu: { quota: 50_000, period: 100_000 },
    });
    assert.deepEqual(cgroupLimits({ pids: 5 }, []), {});
  });

  it('is what a zone starts with: the spec and a live update agree, for 0 too', () => {
    for (const r of [
      { memoryBytes: 64 * MiB, cpuCap: 25, pids: 10 },
      { memoryBytes: 0, cpuCap: 0, pids: 0 },
      {},
    ]) {
      const spec = buildOciSpec(
        { id: 'z', rootfs: '/r', hostname: 'z', cgroupsPath: '/z', resources: r },
        {},
      );
      const { devices: _devices, ...set } = spec.linux.resources;
      assert.deepEqual(set, cgroupLimits(r));
    }
  });
});
