/**
 * Bandwidth caps (`maxbw`, dladm's link property) with tc on the host end of a NIC, in both
 * directions: a token bucket on what the host end sends (the zone's download), and what it receives
 * (the zone's upload) redirected to an IFB device with a token bucket of its own. tc's policer is not
 * built into this kernel; IFB and mirred are.
 * @module
 */
import { ZonixError } from '../common/index.ts';

/** dladm's maxbw: a number with K, M or G (bits per second); a bare number is Mbps. */
export function parseMaxbw(v: string): number {
  const m = /^(\d+(?:\.\d+)?)([KMG])?$/i.exec(v.trim());
  if (!m) throw new ZonixError('EINVAL', `invalid maxbw value '${v}' (a rate such as 100M or 1G)`);
  const n = Number(m[1]);
  const unit = (m[2] ?? 'M').toUpperCase();
  const bps = n * (unit === 'K' ? 1e3 : unit === 'G' ? 1e9 : 1e6);
  if (bps < 1.2e6 && bps !== 0) throw new ZonixError('EINVAL', `maxbw '${v}' is below the minimum of 1.2M`);
  return Math.round(bps);
}

/** A bucket large enough for 10 ms at the rate (at least 32 KiB, so one GSO burst fits). */
function burstBytes(bps: number): number {
  return Math.max(32 * 1024, Math.ceil(bps / 8 / 100));
}

function tbf(dev: string, bps: number): string[] {
  return [
    'qdisc',
    'replace',
    'dev',
    dev,
    'root',
    'tbf',
    'rate',
    `${bps}bit`,
    'burst',
    String(burstBytes(bps)),
    'latency',
    '50ms',
  ];
}

/** tc lines that cap `hostLink` at `bps` each way (ifb already made and up). */
export function capLines(hostLink: string, ifb: string, bps: number): string[][] {
  return [
    tbf(hostLink, bps),
    ['qdisc', 'replace', 'dev', hostLink, 'handle', 'ffff:', 'ingress'],
    [
      'filter',
      'replace',
      'dev',
      hostLink,
      'parent',
      'ffff:',
      'protocol',
      'all',
      'prio',
      '1',
      'u32',
      'match',
      'u32',
      '0',
      '0',
      'action',
      'mirred',
      'egress',
      'redirect',
      'dev',
      ifb,
    ],
    tbf(ifb, bps),
  ];
}

/** tc lines that lift a cap (the IFB device goes separately). */
export function uncapLines(hostLink: string): string[][] {
  return [
    ['qdisc', 'del', 'dev', hostLink, 'root'],
    ['qdisc', 'del', 'dev', hostLink, 'handle', 'ffff:', 'ingress'],
  ];
}
