/**
 * Host networks: an etherstub on which the host has an address (the zones' gateway), masquerades
 * what zones send out through the host's own routes, and serves DHCP (Debian's dnsmasq, one per
 * network, which also answers DNS on the gateway address by forwarding to the host's resolvers).
 * This is what Incus users get from incusbr0. dnsmasq runs detached with its pid file in the run
 * folder; every command that needs it checks that it runs and starts it again when it does not.
 * @module
 */
import { existsSync, mkdirSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { ipv4ToNumber, isErrno, numberToIpv4, processAlive, ZonixError } from '../common/index.ts';
import { run, runPath } from '../platform/index.ts';
import { ip, nft, sysctl } from './exec.ts';
import { bridgeName } from './names.ts';
import type { HostNetConfig, NicTag, NicTags } from './tags.ts';

/** `10.88.0.1/24` → its subnet, mask, and a default DHCP range (the upper half, less broadcast). */
export function subnetOf(cidr: string): {
  network: string;
  prefix: number;
  netmask: string;
  range: [string, string];
} {
  const [addr, bits] = cidr.split('/');
  const prefix = Number(bits);
  const n = ipv4ToNumber(addr!);
  const mask = prefix === 0 ? 0 : (~0 << (32 - prefix)) >>> 0;
  const net = (n & mask) >>> 0;
  const size = 2 ** (32 - prefix);
  const str = numberToIpv4;
  const start = net + Math.max(2, Math.floor(size / 2));
  return { network: str(net), prefix, netmask: str(mask), range: [str(start), str(net + size - 2)] };
}

export function validGateway(cidr: string): boolean {
  const m = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})\/(\d{1,2})$/.exec(cidr);
  if (!m) return false;
  const prefix = Number(m[5]);
  return m.slice(1, 5).every((o) => Number(o) <= 255) && prefix >= 8 && prefix <= 30;
}

export const natTable = (tag: string) => `zxnat_${tag}`;
const pidFile = (tag: string) => runPath('net', `dnsmasq-${tag}.pid`);
const leasesFile = (tag: string) => runPath('net', `dnsmasq-${tag}.leases`);

/** The pid of the tag's dnsmasq if it runs. */
export function dnsmasqPid(tag: string): number | undefined {
  try {
    const pid = Number(readFileSync(pidFile(tag), 'utf8').trim());
    if (!(pid > 0) || !processAlive(pid)) return undefined;
    const cmd = readFileSync(`/proc/${pid}/cmdline`, 'utf8');
    return cmd.startsWith('dnsmasq') || cmd.includes('/dnsmasq\0') ? pid : undefined;
  } catch (err) {
    if (isErrno(err, 'ENOENT')) return undefined;
    throw err;
  }
}

export class HostNetworks {
  constructor(private readonly tags: NicTags) {}

  /** Bring the network up (idempotent): bridge, gateway address, forwarding and NAT, dnsmasq. */
  async ensure(tag: NicTag): Promise<void> {
    const cfg = tag.net;
    if (!cfg) return;
    const bridge = await this.tags.ensureBridge(tag, 0);
    const s = subnetOf(cfg.gateway);
    await ip(['addr', 'replace', cfg.gateway, 'dev', bridge]);
    if (cfg.nat) {
      await sysctl('net/ipv4/ip_forward', '1');
      const t = natTable(tag.name);
      await nft(
        [
          `table ip ${t} {}`,
          `delete table ip ${t}`,
          `table ip ${t} {`,
          '  chain post {',
          '    type nat hook postrouting priority srcnat; policy accept;',
          `    ip saddr ${s.network}/${s.prefix} ip daddr != ${s.network}/${s.prefix} masquerade`,
          '  }',
          '}',
        ].join('\n') + '\n',
      );
    }
    if (cfg.dhcp) await this.ensureDnsmasq(tag.name, bridge, cfg);
  }

  private async ensureDnsmasq(name: string, bridge: string, cfg: HostNetConfig): Promise<void> {
    if (dnsmasqPid(name) !== undefined) return;
    const s = subnetOf(cfg.gateway);
    const gw = cfg.gateway.split('/')[0]!;
    const [start, end] = cfg.range ?? s.range;
    mkdirSync(runPath('net'), { recursive: true });
    await run(
      'dnsmasq',
      [
        '--conf-file=/dev/null',
        `--pid-file=${pidFile(name)}`,
        `--dhcp-leasefile=${leasesFile(name)}`,
        `--interface=${bridge}`,
        '--bind-interfaces',
        '--except-interface=lo',
        `--listen-address=${gw}`,
        `--dhcp-range=${start},${end},${s.netmask},infinite`,
        `--dhcp-option=option:router,${gw}`,
        `--dhcp-option=option:dns-server,${gw}`,
        '--dhcp-authoritative',
        '--no-ping',
        '--no-hosts',
        '--strict-order',
        '--user=root',
        `--log-facility=${runPath('net', `dnsmasq-${name}.log`)}`,
        '--quiet-dhcp',
      ],
      { timeoutMs: 15_000 },
    );
    if (dnsmasqPid(name) === undefined)
      throw new ZonixError('EIO', `dnsmasq for network ${name} did not start`);
  }

  /** Take the network down: dnsmasq, NAT, the gateway address (the bridge goes with its tag). */
  async remove(tag: NicTag): Promise<void> {
    const pid = dnsmasqPid(tag.name);
    if (pid !== undefined) {
      process.kill(pid, 'SIGTERM');
      for (let i = 0; i < 200 && processAlive(pid); i++) await new Promise((r) => setTimeout(r, 10));
    }
    rmSync(pidFile(tag.name), { force: true });
    rmSync(leasesFile(tag.name), { force: true });
    rmSync(runPath('net', `dnsmasq-${tag.name}.log`), { force: true });
    const t = natTable(tag.name);
    await nft(`table ip ${t} {}\ndelete table ip ${t}\n`);
    if (tag.net && existsSync(join('/sys/class/net', bridgeName(tag.name))))
      await ip(['addr', 'del', tag.net.gateway, 'dev', bridgeName(tag.name)]).catch(() => undefined);
  }
}
