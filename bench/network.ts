/**
 * bench/network: Zonix networking against bare Linux, in one run, as root.
 * (a) throughput (iperf3, TCP, ZONIX_BENCH_SECONDS s; median of 3 rounds, the paths in turn) and
 *     round-trip time (ping, p50 of 200 per round) between
 *     two network namespaces joined by a bare veth pair; (b) the same between two zones on one
 *     etherstub, with anti-spoofing and the firewall on (one rule lets the test traffic in), measured
 *     from inside the zones' own namespaces (nsenter --net, the host's iperf3 and ping);
 * (a2) the same latency between two namespaces on a bare bridge, for where the extra begins;
 * (c) creating (and starting) a zone with two NICs against one with none;
 * (d) the firewall: loading 1,000 rules over 100 VMs, and changing one rule.
 * Goals: (b) within 10% of (a) on throughput and p50 RTT; (c) under 25 ms more; (d) under 1 s, and
 * under 50 ms. The addresses exist only on the namespaces and the etherstub this run makes.
 */
import { spawn } from 'node:child_process';
import { randomBytes, randomUUID } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import {
  createBtrfsPool,
  exec,
  fmtMs,
  log,
  median,
  positiveInt,
  runBenchmark,
  table,
  timed,
  type BenchRun,
} from './lib.ts';
import { dropHostStartupCosts, processesMentioning, removeCgroups } from './zone-helpers.ts';

const RUNS = positiveInt(process.env.ZONIX_BENCH_RUNS, 10);
const SECONDS = positiveInt(process.env.ZONIX_BENCH_SECONDS, 3);
/** Rounds of throughput and latency, each path in turn. */
const ROUNDS = positiveInt(process.env.ZONIX_BENCH_ROUNDS, 3);
const RULES = positiveInt(process.env.ZONIX_BENCH_RULES, 1000);
const FW_VMS = positiveInt(process.env.ZONIX_BENCH_FW_VMS, 100);
const CGROUP_PARENT = `zonix-bench-${randomBytes(3).toString('hex')}`;
process.env.ZONIX_CGROUP_PARENT = CGROUP_PARENT;
const droppedEnv = dropHostStartupCosts();

interface PathFigures {
  gbits: number;
  p50Ms: number;
}

interface Result {
  runs: number;
  bare: PathFigures;
  zones: PathFigures;
  bridgeP50Ms: number;
  bridgeGbits: number;
  createNoNicMs: number;
  createTwoNicsMs: number;
  fwStoreAndLoadMs: number;
  fwLoadMs: number;
  fwOneRuleMs: number;
  fwRules: number;
  fwVms: number;
}

/** iperf3 from the namespace of `client` to `server`'s address (both given as nsenter argv prefixes). */
async function throughput(serverNs: string[], clientNs: string[], ip: string): Promise<number> {
  const server = spawn(serverNs[0]!, [...serverNs.slice(1), 'iperf3', '-s', '-1', '-p', '5201'], {
    stdio: 'ignore',
  });
  try {
    await new Promise((r) => setTimeout(r, 300));
    const out = await exec(clientNs[0]!, [
      ...clientNs.slice(1),
      'iperf3',
      '-c',
      ip,
      '-p',
      '5201',
      '-t',
      String(SECONDS),
      '-J',
    ]);
    const j = JSON.parse(out) as { end: { sum_received: { bits_per_second: number } } };
    return j.end.sum_received.bits_per_second / 1e9;
  } finally {
    server.kill('SIGKILL');
  }
}

/** p50 of 200 pings, 10 ms apart. */
async function rtt(ns: string[], ip: string): Promise<number> {
  const out = await exec(ns[0]!, [...ns.slice(1), 'ping', '-n', '-q', '-c', '1', ip]).then(() =>
    exec(ns[0]!, [...ns.slice(1), 'ping', '-n', '-c', '200', '-i', '0.01', ip]),
  );
  const times = [...out.matchAll(/time=([\d.]+) ms/g)].map((m) => Number(m[1]));
  if (times.length < 150) throw new Error(`only ${times.length} of 200 pings came back`);
  return median(times);
}

async function runBench(run: BenchRun): Promise<Result> {
  const { pool } = await createBtrfsPool(run, 'n', 2 * 1024 ** 3);
  process.env.ZONIX_SYSTEM_POOL = pool.name;
  const prefix = run.env.prefix;
  process.env.ZONIX_FW_TABLE = `${prefix}_fw`;
  const stub = `${prefix}s0`.slice(0, 15);
  const nsA = `${prefix}a`;
  const nsB = `${prefix}b`;
  const nsC = `${prefix}c`;
  const nsD = `${prefix}d`;
  const bridgeName = `${prefix}br`.slice(0, 15);
  const { Host } = await import('../src/host/index.ts');
  const images = await import('../src/images/index.ts');
  const zones = await import('../src/zones/index.ts');
  const host = new Host();
  const made: string[] = [];
  try {
    const store = new images.ImageStore(pool);
    await images.importImage(store, 'minimal');
    const image = store.list()[0]!.manifest.uuid;
    if (droppedEnv.length) log(`timed commands run without ${droppedEnv.join(', ')}`);

    // (a) bare: two namespaces and a veth pair.
    log('bare veth pair between two namespaces');
    await exec('ip', ['netns', 'add', nsA]);
    await exec('ip', ['netns', 'add', nsB]);
    await exec('ip', [
      'link',
      'add',
      'veth0',
      'netns',
      nsA,
      'type',
      'veth',
      'peer',
      'name',
      'veth0',
      'netns',
      nsB,
    ]);
    for (const [ns, ip] of [
      [nsA, '10.250.0.1/24'],
      [nsB, '10.250.0.2/24'],
    ] as const) {
      await exec('ip', ['-n', ns, 'addr', 'add', ip, 'dev', 'veth0']);
      await exec('ip', ['-n', ns, 'link', 'set', 'veth0', 'up']);
      await exec('ip', ['-n', ns, 'link', 'set', 'lo', 'up']);
    }
    const inNs = (ns: string) => ['ip', 'netns', 'exec', ns];
    // (a2) where the zones' extra latency starts: two namespaces on a bare bridge (no guard, no
    // firewall; the host's bridge-nf-call-iptables still hands bridged frames to netfilter).
    log('two namespaces on a bare bridge');
    await exec('ip', ['link', 'add', bridgeName, 'type', 'bridge']);
    await exec('ip', ['link', 'set', bridgeName, 'up']);
    for (const [ns, ip, end] of [
      [nsC, '10.249.0.1/24', `${prefix}c`],
      [nsD, '10.249.0.2/24', `${prefix}d`],
    ] as const) {
      await exec('ip', ['netns', 'add', ns]);
      await exec('ip', ['link', 'add', end, 'type', 'veth', 'peer', 'name', 'veth0', 'netns', ns]);
      await exec('ip', ['link', 'set', end, 'master', bridgeName, 'up']);
      await exec('ip', ['-n', ns, 'addr', 'add', ip, 'dev', 'veth0']);
      await exec('ip', ['-n', ns, 'link', 'set', 'veth0', 'up']);
      await exec('ip', ['-n', ns, 'link', 'set', 'lo', 'up']);
    }

    // (b) two zones on one etherstub, anti-spoofing and the firewall on.
    log('two zones on one etherstub, anti-spoofing and firewall on');
    await host.net.tags.add({ name: stub, kind: 'etherstub' });
    const { makeRecord } = await import('../src/net/index.ts');
    const allow = makeRecord({ rule: 'FROM all vms TO all vms ALLOW tcp PORT 5201', enabled: true });
    const ping = makeRecord({ rule: 'FROM all vms TO all vms ALLOW icmp TYPE 8', enabled: true });
    await host.net.firewall.apply([
      { kind: 'added', rule: allow },
      { kind: 'added', rule: ping },
    ]);
    const zone = async (ip: string) => {
      const { uuid } = await host.create({
        brand: 'joyent-minimal',
        image_uuid: image,
        autoboot: true,
        firewall_enabled: true,
        nics: [{ nic_tag: stub, ips: [`${ip}/24`] }],
      });
      made.push(uuid);
      const pid = (await readFile(join(zones.zoneDir(uuid), 'pid'), 'utf8')).trim();
      return ['nsenter', `--net=/proc/${pid}/ns/net`, '--'];
    };
    const zA = await zone('10.251.0.1');
    const zB = await zone('10.251.0.2');
    // Both paths in turn, ROUNDS times, so that both see the same host: medians of each.
    const tp = { bare: [] as number[], bridge: [] as number[], zones: [] as number[] };
    const lat = { bare: [] as number[], bridge: [] as number[], zones: [] as number[] };
    for (let k = 0; k < ROUNDS; k++) {
      tp.bare.push(await throughput(inNs(nsA), inNs(nsB), '10.250.0.1'));
      tp.bridge.push(await throughput(inNs(nsC), inNs(nsD), '10.249.0.1'));
      tp.zones.push(await throughput(zA, zB, '10.251.0.1'));
      lat.bare.push(await rtt(inNs(nsB), '10.250.0.1'));
      lat.bridge.push(await rtt(inNs(nsD), '10.249.0.1'));
      lat.zones.push(await rtt(zB, '10.251.0.1'));
    }
    const bare = { gbits: median(tp.bare), p50Ms: median(lat.bare) };
    const zonesFig = { gbits: median(tp.zones), p50Ms: median(lat.zones) };
    const bridgeP50Ms = median(lat.bridge);
    const bridgeGbits = median(tp.bridge);
    for (const u of made.splice(0)) await host.delete(u);
    await host.net.firewall.apply([
      { kind: 'deleted', old: allow },
      { kind: 'deleted', old: ping },
    ]);

    // (c) create with two NICs against none (no firewall rules on the host: (d) times those).
    log(`create (running) and delete: ${RUNS} rounds with no NIC and with two`);
    const samples = { none: [] as number[], two: [] as number[] };
    for (let r = 0; r < RUNS; r++) {
      for (const key of ['none', 'two'] as const) {
        const nics =
          key === 'none'
            ? []
            : [
                { nic_tag: stub, ips: [`10.252.${r}.1/24`], primary: true },
                { nic_tag: stub, ips: [`10.253.${r}.1/24`] },
              ];
        let uuid = '';
        samples[key].push(
          await timed(async () => {
            ({ uuid } = await host.create({
              brand: 'joyent-minimal',
              image_uuid: image,
              autoboot: true,
              nics,
            }));
          }),
        );
        await host.delete(uuid);
      }
    }

    // (d) the firewall: rules over VMs that are defined (records), loaded into the kernel.
    log(`firewall: ${RULES} rules over ${FW_VMS} VMs`);
    const { Firewall } = await import('../src/net/firewall.ts');
    const owner = randomUUID();
    const vms = Array.from({ length: FW_VMS }, (_, i) => ({
      uuid: randomUUID(),
      owner_uuid: owner,
      firewall_enabled: true,
      tags: { role: `r${i % 10}`, n: String(i) },
      nics: [{ nic_tag: stub, ips: [`10.254.${Math.floor(i / 250)}.${(i % 250) + 1}/16`] }],
    }));
    const fw = new Firewall(
      () => pool.docs('fwrules'),
      () => Promise.resolve(vms),
    );
    const rules = Array.from({ length: RULES }, (_, i) => {
      const kinds = [
        `FROM any TO tag role = r${i % 10} ALLOW tcp PORT ${1000 + i}`,
        `FROM vm ${vms[i % FW_VMS]!.uuid} TO vm ${vms[(i + 1) % FW_VMS]!.uuid} ALLOW tcp PORT 22`,
        `FROM subnet 10.${i % 250}.0.0/16 TO all vms BLOCK udp PORT ${(i % 60000) + 1}`,
        `FROM tag role = r${i % 10} TO any BLOCK tcp PORT 25`,
      ];
      return makeRecord({ rule: kinds[i % kinds.length]!, enabled: true, owner_uuid: owner });
    });
    const fwStoreAndLoadMs = await timed(() =>
      fw.apply(rules.map((rule) => ({ kind: 'added' as const, rule }))),
    );
    const loads: number[] = [];
    for (let r = 0; r < 3; r++) loads.push(await timed(() => fw.sync()));
    const changes: number[] = [];
    for (let r = 0; r < RUNS; r++) {
      const old = fw.get(rules[r]!.uuid)!;
      const rule = makeRecord({ rule: `FROM any TO tag role = r${r % 10} ALLOW tcp PORT ${30000 + r}` }, old);
      changes.push(await timed(() => fw.apply([{ kind: 'updated', rule, old }])));
    }
    await fw.apply(fw.list().map((old) => ({ kind: 'deleted' as const, old })));

    const m = (k: keyof typeof samples) => median(samples[k]);
    return {
      runs: RUNS,
      bare,
      zones: zonesFig,
      bridgeP50Ms,
      bridgeGbits,
      createNoNicMs: m('none'),
      createTwoNicsMs: m('two'),
      fwStoreAndLoadMs,
      fwLoadMs: median(loads),
      fwOneRuleMs: median(changes),
      fwRules: RULES,
      fwVms: FW_VMS,
    };
  } finally {
    for (const u of made) await host.delete(u).catch((err: unknown) => log(`deleting ${u}: ${String(err)}`));
    for (const vm of await host.list().catch(() => [])) await host.delete(vm.uuid).catch(() => undefined);
    await host.net.tags.delete(stub).catch(() => undefined);
    await exec('nft', ['delete', 'table', 'inet', `${prefix}_fw`]).catch(() => undefined);
    for (const ns of [nsA, nsB, nsC, nsD]) await exec('ip', ['netns', 'del', ns]).catch(() => undefined);
    await exec('ip', ['link', 'del', bridgeName]).catch(() => undefined);
    const leaks: string[] = [];
    for (const p of await processesMentioning(run.env.dir)) leaks.push(`process left behind: ${p}`);
    for (const d of await removeCgroups(CGROUP_PARENT)) leaks.push(`cgroup left behind: ${d}`);
    const tables = await exec('nft', ['list', 'tables']);
    if (tables.includes(prefix)) leaks.push(`nft table left: ${tables}`);
    const linksLeft = (await exec('ip', ['-o', 'link', 'show']))
      .split('\n')
      .filter((l) => l.includes(stub) || l.includes(bridgeName));
    for (const l of linksLeft) leaks.push(`link left: ${l}`);
    if (leaks.length) {
      for (const l of leaks) console.error(`error: ${l}`);
      // eslint-disable-next-line no-unsafe-finally
      throw new Error(`${leaks.length} leftover(s)`);
    }
    log('no VMs, links, nft tables, namespaces or cgroups left');
  }
}

function report(r: Result): string {
  const pct = (a: number, b: number) => `${((a / b) * 100).toFixed(1)}%`;
  const rows = [
    ['(a) bare veth, two namespaces: TCP throughput (Gbit/s)', r.bare.gbits.toFixed(2), '100.0%'],
    ['(a2) two namespaces on a bare bridge', r.bridgeGbits.toFixed(2), pct(r.bridgeGbits, r.bare.gbits)],
    [
      '(b) two zones on an etherstub, spoofing + firewall on',
      r.zones.gbits.toFixed(2),
      pct(r.zones.gbits, r.bare.gbits),
    ],
    ['(a) bare veth: p50 round trip (ms)', r.bare.p50Ms.toFixed(3), '100.0%'],
    [
      '(a2) two namespaces on a bare bridge: p50 round trip (ms)',
      r.bridgeP50Ms.toFixed(3),
      pct(r.bridgeP50Ms, r.bare.p50Ms),
    ],
    [
      '(b) zones on an etherstub: p50 round trip (ms)',
      r.zones.p50Ms.toFixed(3),
      pct(r.zones.p50Ms, r.bare.p50Ms),
    ],
    ['(c) create (running), no NIC (ms)', fmtMs(r.createNoNicMs), ''],
    [
      '(c) create (running), two NICs (ms)',
      fmtMs(r.createTwoNicsMs),
      `+${fmtMs(r.createTwoNicsMs - r.createNoNicMs)} ms`,
    ],
    [`(d) firewall: store and load ${r.fwRules} rules, ${r.fwVms} VMs (ms)`, fmtMs(r.fwStoreAndLoadMs), ''],
    ['(d) firewall: load them again (ms)', fmtMs(r.fwLoadMs), ''],
    ['(d) firewall: change one rule (ms)', fmtMs(r.fwOneRuleMs), ''],
  ];
  return [
    `Networking, medians (goals: (b) within 10% of (a); (c) < 25 ms more; (d) load < 1 s, one rule < 50 ms)`,
    table(['what', 'value', 'of (a)'], rows, 1),
  ].join('\n');
}

process.exitCode = await runBenchmark('bench/network.ts', 'zn', runBench, report);
