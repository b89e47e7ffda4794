import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { checkMemory, fixPayloadMemory, type Payload } from './index.ts';

const pick = (p: Payload, ...keys: string[]): Payload => Object.fromEntries(keys.map((k) => [k, p[k]]));

describe('fixPayloadMemory (smartos.md §2.4)', () => {
  it('1: ram without max_physical_memory adds the brand overhead', () => {
    assert.equal(fixPayloadMemory({ ram: 1024 }, 'kvm').max_physical_memory, 2048);
    assert.equal(fixPayloadMemory({ ram: 1024 }, 'bhyve').max_physical_memory, 2304);
    assert.equal(fixPayloadMemory({ ram: 512 }, 'joyent').max_physical_memory, 512);
    assert.equal(fixPayloadMemory({ ram: 1024, max_physical_memory: 4096 }, 'kvm').max_physical_memory, 4096);
  });

  it('2: max_locked_memory follows max_physical_memory, keeping the old gap on update', () => {
    assert.equal(fixPayloadMemory({ max_physical_memory: 512 }, 'joyent').max_locked_memory, 512);
    const old = { max_physical_memory: 1024, max_locked_memory: 512 };
    assert.equal(fixPayloadMemory({ max_physical_memory: 2048 }, 'joyent', old).max_locked_memory, 1536);
  });

  it('3: max_swap follows max_physical_memory, keeps the old gap, and never drops below 256', () => {
    assert.equal(fixPayloadMemory({ max_physical_memory: 128 }, 'joyent').max_swap, 256);
    assert.equal(fixPayloadMemory({ max_physical_memory: 512 }, 'joyent').max_swap, 512);
    const gap = { max_physical_memory: 1024, max_swap: 2048 };
    assert.equal(fixPayloadMemory({ max_physical_memory: 2048 }, 'joyent', gap).max_swap, 3072);
    const floor = { max_physical_memory: 128, max_swap: 256 };
    assert.equal(fixPayloadMemory({ max_physical_memory: 512 }, 'joyent', floor).max_swap, 512);
    const shrink = { max_physical_memory: 1024, max_swap: 1024 };
    assert.equal(fixPayloadMemory({ max_physical_memory: 100 }, 'joyent', shrink).max_swap, 256);
  });

  it('4: tmpfs follows max_physical_memory (or its old ratio) and is clamped to it', () => {
    assert.equal(fixPayloadMemory({ max_physical_memory: 512 }, 'joyent').tmpfs, 512);
    const old = { max_physical_memory: 1024, tmpfs: 256 };
    assert.equal(fixPayloadMemory({ max_physical_memory: 2048 }, 'joyent', old).tmpfs, 512);
    assert.equal(fixPayloadMemory({ max_physical_memory: 1024, tmpfs: 4096 }, 'joyent').tmpfs, 1024);
    assert.equal(fixPayloadMemory({ tmpfs: 4096 }, 'lx', old).tmpfs, 1024);
    assert.equal(fixPayloadMemory({ tmpfs: 0 }, 'lx', old).tmpfs, 0);
    assert.equal(fixPayloadMemory({ max_physical_memory: 1024 }, 'kvm').tmpfs, undefined);
  });

  it('5: the first max_physical_memory also sets max_shm_memory and the IPC id caps', () => {
    assert.deepEqual(
      pick(
        fixPayloadMemory({ max_physical_memory: 512 }, 'joyent'),
        'max_shm_memory',
        'max_msg_ids',
        'max_sem_ids',
        'max_shm_ids',
      ),
      { max_shm_memory: 512, max_msg_ids: 4096, max_sem_ids: 4096, max_shm_ids: 4096 },
    );
    const old = {
      max_physical_memory: 256,
      max_shm_memory: 256,
      max_msg_ids: 10,
      max_sem_ids: 10,
      max_shm_ids: 10,
    };
    const fixed = fixPayloadMemory({ max_physical_memory: 512 }, 'joyent', old);
    assert.deepEqual(pick(fixed, 'max_shm_memory', 'max_msg_ids'), {
      max_shm_memory: undefined,
      max_msg_ids: undefined,
    });
  });

  it('6: HVM keeps max_physical_memory and max_locked_memory at least ram + 256', () => {
    const fixed = fixPayloadMemory({ ram: 1024, max_physical_memory: 1100 }, 'kvm');
    assert.deepEqual(pick(fixed, 'max_physical_memory', 'max_locked_memory'), {
      max_physical_memory: 1280,
      max_locked_memory: 1280,
    });
    const old = { ram: 2048, max_physical_memory: 3328, max_locked_memory: 3328 };
    assert.equal(fixPayloadMemory({ max_locked_memory: 1024 }, 'bhyve', old).max_locked_memory, 2304);
    assert.equal(
      fixPayloadMemory({ ram: 1024, max_physical_memory: 1100 }, 'joyent').max_physical_memory,
      1100,
    );
  });

  it('7: max_locked_memory is clamped down and max_swap raised to max_physical_memory', () => {
    const fixed = fixPayloadMemory(
      { max_physical_memory: 512, max_locked_memory: 1024, max_swap: 300 },
      'joyent',
    );
    assert.deepEqual(pick(fixed, 'max_locked_memory', 'max_swap'), { max_locked_memory: 512, max_swap: 512 });
    const old = { max_physical_memory: 2048 };
    assert.deepEqual(
      pick(
        fixPayloadMemory({ max_locked_memory: 4096, max_swap: 1024 }, 'joyent', old),
        'max_locked_memory',
        'max_swap',
      ),
      {
        max_locked_memory: 2048,
        max_swap: 2048,
      },
    );
  });

  it('does not change its input', () => {
    const input = { ram: 1024 };
    fixPayloadMemory(input, 'kvm');
    assert.deepEqual(input, { ram: 1024 });
  });
});

describe('checkMemory (smartos.md §3.2)', () => {
  const cases: [Payload, string, Payload | undefined, string][] = [
    [
      { max_physical_memory: 512, max_locked_memory: 1024 },
      'joyent',
      undefined,
      'max_locked_memory must be <= max_physical_memory',
    ],
    [
      { max_physical_memory: 512, max_swap: 256 },
      'joyent',
      undefined,
      'max_swap must be >= max_physical_memory',
    ],
    [
      { max_physical_memory: 512 },
      'kvm',
      { ram: 1024 },
      'vm.max_physical_memory (512) cannot be lower than vm.ram (1024)',
    ],
    [
      { max_locked_memory: 512 },
      'bhyve',
      { ram: 1024 },
      'vm.max_locked_memory (512) cannot be lower than vm.ram (1024)',
    ],
    [{ max_swap: 512 }, 'kvm', { ram: 1024 }, 'vm.max_swap (512) cannot be lower than vm.ram (1024)'],
    [{ max_swap: 200 }, 'kvm', { ram: 128 }, 'vm.max_swap (200) cannot be lower than 256MiB'],
  ];
  for (const [payload, brand, old, message] of cases) {
    it(message, () => assert.throws(() => checkMemory(payload, brand, old), { message }));
  }

  it('accepts fixed payloads and OS updates', () => {
    checkMemory(fixPayloadMemory({ ram: 1024 }, 'kvm'), 'kvm');
    checkMemory({ max_physical_memory: 64 }, 'joyent', { ram: 1024 });
  });
});
