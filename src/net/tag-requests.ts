/**
 * Adding and deleting nic tags as a request (from `nictagadm add` or the API): the checks and
 * SmartOS's messages in one place. Properties come as strings, as `-p key=value` gives them.
 * @module
 */
import { subnetOf, validGateway } from './hostnet.ts';
import {
  isMac,
  normalizeMac,
  tagError,
  validMtu,
  validStubName,
  validTagName,
  type NicTag,
  type NicTags,
} from './tags.ts';

export interface TagRequest {
  name: string;
  /** An etherstub (`nictagadm add -l`). */
  local?: boolean;
  /** The uplink of a normal tag: its MAC or its name. */
  mac?: string;
  mtu?: string;
  /** Host network (local tags): `10.88.0.1/24`, with NAT and DHCP on unless `false`. */
  gateway?: string;
  nat?: string;
  dhcp?: string;
  dhcp_range?: string;
}

const bool = (key: string, v: string | undefined, dflt: boolean): boolean => {
  if (v === undefined) return dflt;
  if (['true', 'on', 'yes', '1'].includes(v)) return true;
  if (['false', 'off', 'no', '0'].includes(v)) return false;
  throw tagError(`invalid value for ${key}: ${v}`);
};

/** The host network part of a local tag's properties. */
function hostNet(props: Map<string, string | undefined>): NicTag['net'] {
  const gateway = props.get('gateway');
  for (const k of ['nat', 'dhcp', 'dhcp_range'])
    if (props.has(k) && gateway === undefined) throw tagError(`${k} needs gateway=<address>/<prefix>`);
  if (gateway === undefined) return undefined;
  if (!validGateway(gateway))
    throw tagError(`invalid gateway: ${gateway} (an IPv4 address with a /8-/30 prefix)`);
  const range = props.get('dhcp_range');
  let r: [string, string] | undefined;
  if (range !== undefined) {
    const m = /^(\d+\.\d+\.\d+\.\d+)-(\d+\.\d+\.\d+\.\d+)$/.exec(range);
    if (!m) throw tagError(`invalid dhcp_range: ${range} (first-last)`);
    const net = subnetOf(gateway).network;
    for (const a of [m[1]!, m[2]!])
      if (subnetOf(`${a}/${gateway.split('/')[1]!}`).network !== net)
        throw tagError(`dhcp_range address ${a} is not in ${net}/${gateway.split('/')[1]!}`);
    r = [m[1]!, m[2]!];
  }
  return {
    gateway,
    nat: bool('nat', props.get('nat'), true),
    dhcp: bool('dhcp', props.get('dhcp'), true),
    ...(r ? { range: r } : {}),
  };
}

/** The tag a request describes, checked against the tags there are. */
export async function tagOf(req: TagRequest, tags: NicTags): Promise<NicTag> {
  const { name, mac } = req;
  const local = req.local === true;
  const props = new Map<string, string | undefined>(
    Object.entries(req).filter(([, v]) => typeof v === 'string') as [string, string][],
  );
  if (!mac && !local) throw tagError('create non-local tag, but no mac address specified');
  if (mac && local) throw tagError('create local tag, but mac address specified');
  if (req.mtu !== undefined && local) throw tagError('Cannot specify MTU for local nic tag');
  const mtu = req.mtu === undefined ? undefined : validMtu(req.mtu);
  if (!local && ['gateway', 'nat', 'dhcp', 'dhcp_range'].some((k) => props.has(k)))
    throw tagError('gateway, nat and dhcp are properties of local (-l) tags');
  if (tags.get(name)) throw tagError(`nic tag '${name}' already exists`);
  if (local) {
    if (!validStubName(name)) throw tagError('nic tag name is invalid');
    const hn = hostNet(props);
    return { name, kind: 'etherstub', ...(hn ? { net: hn } : {}) };
  }
  if (!isMac(mac!) && /^[0-9a-fA-F:]+$/.test(mac!)) throw tagError(`MAC address '${mac!}' is invalid`);
  const up = await tags.findUplink(mac!);
  if (!validTagName(name)) throw tagError('nic tag name is invalid');
  return {
    name,
    kind: 'normal',
    mac: normalizeMac(up.address ?? ''),
    ...(isMac(mac!) ? {} : { link: up.ifname }),
    ...(mtu !== undefined ? { mtu } : {}),
  };
}
