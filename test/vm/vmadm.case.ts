/**
 * vmadm from the command line, as a SmartOS user types it: a SmartOS manifest in, a running,
 * resource-capped zone out; list, lookup, get, stop, start, kill, zlogin and delete with SmartOS's
 * messages and exit codes; bad payloads and half-made VMs leave nothing. Run twice: each command in
 * its own process (vmadm.test.ts), and through a resident zonixd (vmadm-zonixd.test.ts), which must
 * answer every one of them exactly the same.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  cli,
  zoneTestSkip,
  leaks,
  makeTestEnv,
  makeZonePool,
  ok,
  startZonixd,
  teardown,
  type Zonixd,
} from '../helpers/host.ts';

const skip = zoneTestSkip();

/** The tests; `served`: with a zonixd running, through which every vmadm command must go. */
export function vmadmTests(served: boolean): void {
  describe(served ? 'vmadm through zonixd' : 'vmadm', { skip, timeout: 180_000 }, () => {
    const env = makeTestEnv(served ? 'vd' : 'va');
    let zonixd: Zonixd | undefined;
    const P = `${env.prefix}p`;
    // The test's pool is this host's system pool (zonix boot must not make a `zones` pool here).
    process.env.ZONIX_SYSTEM_POOL = P;
    const mnt = join(env.dir, 'zones');
    let image = '';
    let uuid = '';
    const payload = (extra: Record<string, unknown>) => {
      const f = join(env.dir, `${randomUUID()}.json`);
      writeFileSync(f, JSON.stringify({ brand: 'joyent-minimal', image_uuid: image, ...extra }));
      return f;
    };

    before(async () => {
      image = await makeZonePool(env, P, { mountpoint: mnt });
      if (served) zonixd = await startZonixd();
    });

    after(async () => {
      if (zonixd) {
        assert.equal(await zonixd.stop(), 0, zonixd.log());
        // It ran the commands: each one it ran is a line of its log.
        for (const cmd of ['create', 'list', 'lookup', 'get', 'stop', 'start', 'kill', 'validate', 'delete'])
          assert.match(zonixd.log(), new RegExp(`zonixd: vmadm ${cmd} .* -> \\d+ \\(`), cmd);
      }
      await teardown(env, [P], uuid ? [uuid] : []);
      assert.deepEqual(leaks(env), []);
    });

    it('creates a running, capped zone from a SmartOS manifest', async () => {
      const r = await cli('vmadm', [
        'create',
        '-f',
        payload({ alias: 'web1', max_physical_memory: 96, cpu_cap: 25, max_lwps: 64, quota: 2 }),
      ]);
      assert.equal(r.code, 0, r.stderr);
      const m = /^Successfully created VM ([0-9a-f-]{36})\n$/.exec(r.stderr);
      assert.ok(m, r.stderr);
      uuid = m[1]!;
      assert.equal(r.stdout, '');
      const vm = JSON.parse(await ok('vmadm', ['get', uuid])) as Record<string, unknown>;
      assert.equal(vm.state, 'running');
      assert.equal(vm.brand, 'joyent-minimal');
      assert.equal(vm.max_physical_memory, 96);
      assert.equal(vm.max_swap, 256);
      assert.equal(vm.zonepath, join(mnt, uuid));
      assert.equal(
        await ok('zfs', ['get', '-H', '-o', 'value', 'origin', `${P}/${uuid}`]),
        `${P}/${image}@final\n`,
      );
      assert.equal(await ok('zfs', ['get', '-H', '-o', 'value', 'quota', `${P}/${uuid}`]), '2G\n');
      const limits = await ok('zlogin', [
        uuid,
        'cat',
        '/sys/fs/cgroup/memory/memory.limit_in_bytes',
        '/sys/fs/cgroup/pids/pids.max',
        '/sys/fs/cgroup/cpu/cpu.cfs_quota_us',
      ]);
      assert.equal(limits, `${96 << 20}\n64\n25000\n`);
    });

    it('lists with the SmartOS columns and filters, and looks up', async () => {
      const list = await ok('vmadm', ['list']);
      assert.equal(
        list,
        'UUID                                  TYPE  RAM      STATE             ALIAS\n' +
          `${uuid}  OS    96       running           web1\n`,
      );
      assert.equal(
        await ok('vmadm', ['list', '-p', '-o', 'uuid,alias,brand', 'alias=~WEB']),
        `${uuid}:web1:joyent-minimal\n`,
      );
      assert.equal(await ok('vmadm', ['list', '-H', 'state=stopped']), '');
      assert.equal(await ok('vmadm', ['lookup', 'alias=web1']), `${uuid}\n`);
      const j = JSON.parse(
        await ok('vmadm', ['lookup', '-j', '-o', 'uuid,alias', 'alias=web1']),
      ) as unknown[];
      assert.deepEqual(j, [{ uuid, alias: 'web1' }]);
      const one = await cli('vmadm', ['lookup', '-1', 'alias=nope']);
      assert.equal(one.code, 1);
      assert.equal(one.stderr, 'Requested unique lookup but found 0 results.\n');
      const bad = await cli('vmadm', ['list', 'frob=1']);
      assert.equal(bad.code, 2);
      assert.match(bad.stderr, /^Invalid filter key: "frob"/);
    });

    it('stop, start and kill answer as SmartOS, exiting 0 when already in the asked-for state', async () => {
      let r = await cli('vmadm', ['start', uuid]);
      assert.deepEqual([r.code, r.stderr], [0, `VM ${uuid} is already 'running'\n`]);
      r = await cli('vmadm', ['stop', uuid]);
      assert.deepEqual([r.code, r.stderr], [0, `Successfully completed stop for VM ${uuid}\n`]);
      r = await cli('vmadm', ['stop', uuid]);
      assert.deepEqual([r.code, r.stderr], [0, `VM ${uuid} is already not 'running' (currently: stopped)\n`]);
      r = await cli('vmadm', ['kill', uuid]);
      assert.deepEqual([r.code, r.stderr], [1, `Cannot find running init PID for VM ${uuid}\n`]);
      r = await cli('vmadm', ['start', uuid]);
      assert.deepEqual([r.code, r.stderr], [0, `Successfully started VM ${uuid}\n`]);
      r = await cli('vmadm', ['kill', '-s', 'HUP', uuid]);
      assert.deepEqual([r.code, r.stderr], [0, `Sent signal "HUP" to init process for VM ${uuid}\n`]);
      r = await cli('vmadm', ['get', 'not-a-uuid']);
      assert.equal(r.code, 2);
      assert.match(r.stderr, /^Invalid or missing UUID for get\n/);
    });

    it('validates as SmartOS does, and a bad create makes nothing', async () => {
      let r = await cli('vmadm', ['validate', 'create', '-f', payload({ autoboot: 'aardvark', alias: 42 })]);
      assert.equal(r.code, 1);
      assert.deepEqual(JSON.parse(r.stderr), {
        bad_values: ['autoboot', 'alias'],
        bad_properties: [],
        missing_properties: [],
      });
      r = await cli('vmadm', ['validate', 'create', '-f', payload({})]);
      assert.deepEqual([r.code, r.stderr], [0, "VALID 'create' payload for joyent-minimal brand VMs.\n"]);
      const before = await ok('zfs', ['list', '-H', '-o', 'name', '-r', P]);
      r = await cli('vmadm', ['create', '-f', payload({ max_physical_memory: 'lots' })]);
      assert.equal(r.code, 1);
      r = await cli('vmadm', ['create', '-f', payload({ image_uuid: randomUUID() })]);
      assert.equal(r.code, 1);
      assert.match(r.stderr, /image_uuid/);
      r = await cli('vmadm', ['create', '-f', join(env.dir, 'missing.json')]);
      assert.deepEqual([r.code, r.stderr], [1, `File: ${join(env.dir, 'missing.json')} does not exist.\n`]);
      assert.equal(await ok('zfs', ['list', '-H', '-o', 'name', '-r', P]), before);
    });

    it('a create that died halfway is gone at the next look', async () => {
      const half = randomUUID();
      await ok('zfs', ['clone', '-o', 'com.zonix:vm=creating', `${P}/${image}@final`, `${P}/${half}`]);
      assert.equal(await ok('vmadm', ['lookup']), `${uuid}\n`);
      assert.equal(existsSync(join(mnt, half)), false);
    });

    it('zonix boot starts again the VMs with autoboot set, as after a host restart', async () => {
      const { OciRuntime } = await import('../../src/zones/index.ts');
      // A restart: the zone and its monitor are gone; the VM's manifest still says autoboot.
      await new OciRuntime('runc').delete(uuid, { force: true });
      assert.equal((JSON.parse(await ok('vmadm', ['get', uuid])) as { state: string }).state, 'stopped');
      const r = await cli('zonix', ['boot', '-q']);
      assert.equal(r.code, 0, r.stderr);
      assert.match(r.stderr, new RegExp(`started VM ${uuid}`));
      assert.equal((JSON.parse(await ok('vmadm', ['get', uuid])) as { state: string }).state, 'running');
    });

    it('delete removes the zone and its dataset', async () => {
      const r = await cli('vmadm', ['delete', uuid]);
      assert.deepEqual([r.code, r.stderr], [0, `Successfully deleted VM ${uuid}\n`]);
      assert.equal(existsSync(join(mnt, uuid)), false);
      const g = await cli('vmadm', ['get', uuid]);
      assert.deepEqual([g.code, g.stderr], [1, `zoneadm: ${uuid}: No such zone configured\n`]);
      uuid = '';
    });
  });
}
