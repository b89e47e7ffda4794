/**
 * Anti-spoofing, as SmartOS's link protection (mac-nospoof, ip-nospoof, dhcp-nospoof, restricted)
 * does it, enforced in the host where root in the zone cannot reach: one nftables table (bridge
 * family) per VM, whose chain for each NIC sees every frame the zone sends into its bridge and drops
 * those from another MAC, from an address the NIC was not given, DHCP server replies, and what is
 * neither IPv4, IPv6 nor ARP. `allow_*_spoofing`, `allow_restricted_traffic` and `allowed_ips` lift
 * each part; `blocked_outgoing_ports` adds to them. Rendered whole and loaded in one transaction.
 * @module
 */
import { vmTableName } from './names.ts';

/** A NIC's protection, as its manifest entry gives it. */
export interface NicProtection {
  mac: string;
  ips: string[];
  allowedIps: string[];
  vrrpPrimaryIp?: string;
  allowIpSpoofing: boolean;
  allowMacSpoofing: boolean;
  allowDhcpSpoofing: boolean;
  allowRestrictedTraffic: boolean;
  blockedPorts: number[];
}

/** What the rules need of one NIC: its protection, where it is plugged, what DHCP gave it. */
export interface GuardNic extends NicProtection {
  /** The host end of its veth pair. */
  hostLink: string;
  /** Addresses DHCP gave it (the rules let it use them). */
  leased: string[];
}

/** The interface id (EUI-64) Linux gives an IPv6 address from a MAC. */
export function eui64(mac: string): string {
  const o = mac.split(':').map((x) => parseInt(x, 16));
  o[0] = o[0]! ^ 0x02;
  const h = (a: number, b: number) => ((a << 8) | b).toString(16);
  return `${h(o[0], o[1]!)}:${h(o[2]!, 0xff)}:${h(0xfe, o[3]!)}:${h(o[4]!, o[5]!)}`;
}

const addrOf = (cidr: string) => cidr.split('/')[0]!;
const isV6 = (a: string) => addrOf(a).includes(':');

function elements(list: readonly string[]): string {
  return list.length ? ` elements = { ${[...new Set(list)].join(', ')} };` : '';
}

function nicChain(n: GuardNic, i: number): { sets: string[]; rules: string[] } {
  const v4 = `n${i}_v4`;
  const v6 = `n${i}_v6`;
  const rules: string[] = [];
  const sets: string[] = [];
  const dhcpClient = n.ips.includes('dhcp');
  const addrconf = n.ips.includes('addrconf');
  const ipSpoofOk = n.allowIpSpoofing || n.allowDhcpSpoofing;
  if (!n.allowMacSpoofing) {
    rules.push(`ether saddr != ${n.mac} drop`);
    rules.push(`ether type arp arp saddr ether != ${n.mac} drop`);
  }
  if (!n.allowRestrictedTraffic) rules.push('ether type != { arp, ip, ip6 } drop');
  if (!n.allowDhcpSpoofing) {
    rules.push('ether type ip udp sport 67 drop');
    rules.push('ether type ip6 udp sport 547 drop');
  }
  if (n.blockedPorts.length) {
    const ports = [...new Set(n.blockedPorts)].sort((a, b) => a - b).join(', ');
    rules.push(`meta l4proto { tcp, udp } th dport { ${ports} } drop`);
  }
  if (!ipSpoofOk) {
    const own = [
      ...n.ips.filter((a) => a !== 'dhcp' && a !== 'addrconf').map(addrOf),
      ...n.allowedIps,
      ...n.leased.map(addrOf),
      ...(n.vrrpPrimaryIp ? [n.vrrpPrimaryIp] : []),
    ];
    const mine4 = own.filter((a) => !isV6(a));
    const mine6 = [...own.filter(isV6), `fe80::${eui64(n.mac)}`];
    sets.push(`set ${v4} { type ipv4_addr; flags interval;${elements(mine4)} }`);
    sets.push(`set ${v6} { type ipv6_addr; flags interval;${elements(mine6)} }`);
    // ARP probes (duplicate address detection) come from 0.0.0.0.
    rules.push('ether type arp arp saddr ip 0.0.0.0 return');
    rules.push(`ether type arp arp saddr ip != @${v4} drop`);
    if (dhcpClient) rules.push('ether type ip ip saddr 0.0.0.0 udp sport 68 udp dport 67 return');
    rules.push(`ether type ip ip saddr != @${v4} drop`);
    rules.push('ether type ip6 ip6 saddr :: return');
    if (addrconf) rules.push(`ether type ip6 ip6 saddr & ::ffff:ffff:ffff:ffff == ::${eui64(n.mac)} return`);
    rules.push(`ether type ip6 ip6 saddr != @${v6} drop`);
  }
  return { sets, rules };
}

/**
 * The nft script that makes (or replaces, atomically) a VM's table: the table is declared, deleted and
 * declared again in one transaction, so it exists before and after and never half-made. With
 * `fresh`, the table must not exist yet (`create`: the script fails whole if it does), which spares
 * the kernel a deletion (a grace period, about 10 ms here) at a VM's start.
 */
export function guardScript(uuid: string, nics: readonly GuardNic[], opts: { fresh?: boolean } = {}): string {
  const table = vmTableName(uuid);
  const lines = opts.fresh
    ? [`create table bridge ${table}`, `table bridge ${table} {`]
    : [`table bridge ${table} {}`, `delete table bridge ${table}`, `table bridge ${table} {`];
  const jumps: string[] = [];
  const chains: string[] = [];
  nics.forEach((n, i) => {
    const { sets, rules } = nicChain(n, i);
    for (const s of sets) lines.push(`  ${s}`);
    jumps.push(`    iifname "${n.hostLink}" jump n${i}_out`);
    chains.push(`  chain n${i}_out {`, ...rules.map((r) => `    ${r}`), '  }');
  });
  lines.push(
    '  chain out {',
    '    type filter hook prerouting priority -300; policy accept;',
    ...jumps,
    '  }',
  );
  lines.push(...chains, '}');
  return lines.join('\n') + '\n';
}

/** The script that removes a VM's table whether or not it exists. */
export function unguardScript(uuid: string): string {
  const table = vmTableName(uuid);
  return `table bridge ${table} {}\ndelete table bridge ${table}\n`;
}
