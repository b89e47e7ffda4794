/**
 * What metadata requests mean, as SmartOS's metadata agent answers them: GET reads `sdc:` keys from
 * the VM itself, `_pw` keys and keys in an internal namespace from `internal_metadata`, the rest
 * from `customer_metadata`; KEYS lists what the guest may read by name; PUT and DELETE change
 * `customer_metadata` (or `internal_metadata` for `_pw` keys and `operator-script`) through the VM
 * core's update, and refuse the `sdc` and internal namespaces.
 * @module
 */
import type { Answer, Request } from './protocol.ts';

/** The VM as `vmadm get` shows it (its NICs presented), read-only here. */
export type MetaVm = Readonly<Record<string, unknown>> & { uuid: string };

/** What changes a VM's metadata: the VM core's update, with SmartOS's set_/remove_ payload. */
export type MetaUpdate = (payload: Record<string, unknown>) => Promise<void>;

const obj = (v: unknown): Record<string, unknown> =>
  v && typeof v === 'object' && !Array.isArray(v) ? (v as Record<string, unknown>) : {};

function namespaces(vm: MetaVm): string[] {
  const ns = vm.internal_metadata_namespaces;
  if (Array.isArray(ns)) return ns.filter((x): x is string => typeof x === 'string');
  if (typeof ns === 'string') return ns.split(',').filter(Boolean);
  return [];
}

/** The internal namespace a key is in (`foo` of `foo:bar` when `foo` is one), else undefined. */
function namespaceOf(vm: MetaVm, key: string): string | undefined {
  const i = key.indexOf(':');
  if (i <= 0) return undefined;
  const ns = key.slice(0, i);
  return namespaces(vm).includes(ns) ? ns : undefined;
}

const isInternal = (vm: MetaVm, key: string) => key.endsWith('_pw') || namespaceOf(vm, key) !== undefined;

/** A value as GET answers it: strings as they are, numbers and booleans as text, objects refused. */
function answerValue(v: unknown): Answer {
  if (v === undefined || v === null) return { code: 'NOTFOUND' };
  if (typeof v === 'string') return { code: 'SUCCESS', value: v };
  if (typeof v === 'number' || typeof v === 'boolean') return { code: 'SUCCESS', value: String(v) };
  return { code: 'FAILURE', message: 'Unsupported value type' };
}

const json = (v: unknown): Answer =>
  v === undefined ? { code: 'NOTFOUND' } : { code: 'SUCCESS', value: JSON.stringify(v) };

/** `a.b.0.c` of an object (VM.flatten's lookup). */
function lookup(vm: MetaVm, path: string): unknown {
  let cur: unknown = vm;
  for (const part of path.split('.')) {
    if (cur === null || typeof cur !== 'object') return undefined;
    cur = (cur as Record<string, unknown>)[part];
  }
  return cur;
}

/**
 * `sdc:routes`: the VM's routes as `[{linklocal, dst, gateway}]`, a gateway of `nics[N]` or
 * `macs[M]` resolved to that NIC's address (a link-local route); DHCP NICs have none to give.
 */
export function sdcRoutes(vm: MetaVm): { linklocal: boolean; dst: string; gateway: string }[] {
  const nics = Array.isArray(vm.nics) ? (vm.nics as Record<string, unknown>[]) : [];
  const addrOf = (nic: Record<string, unknown> | undefined): string | undefined => {
    if (!nic) return undefined;
    const ips = Array.isArray(nic.ips) ? (nic.ips as unknown[]) : nic.ip !== undefined ? [nic.ip] : [];
    const ip = ips.find((x): x is string => typeof x === 'string' && x !== 'dhcp' && x !== 'addrconf');
    return ip?.split('/')[0];
  };
  const out: { linklocal: boolean; dst: string; gateway: string }[] = [];
  for (const [dst, gw] of Object.entries(obj(vm.routes))) {
    if (typeof gw !== 'string') continue;
    const byIndex = /^nics\[(\d+)\]$/.exec(gw);
    const byMac = /^macs\[([0-9a-fA-F:]+)\]$/.exec(gw);
    if (byIndex || byMac) {
      const nic = byIndex
        ? nics[Number(byIndex[1])]
        : nics.find((n) => String(n.mac).toLowerCase() === byMac![1]!.toLowerCase());
      const addr = addrOf(nic);
      if (addr) out.push({ linklocal: true, dst, gateway: addr });
      continue;
    }
    out.push({ linklocal: false, dst, gateway: gw });
  }
  return out;
}

/** GET `key` for the VM. */
export function getKey(vm: MetaVm, key: string): Answer {
  if (key.startsWith('sdc:')) {
    const want = key.slice(4);
    const internal = obj(vm.internal_metadata);
    switch (want) {
      case 'nics':
      case 'resolvers':
      case 'tmpfs':
      case 'tags':
        return json(vm[want]);
      case 'routes':
        return json(sdcRoutes(vm));
      case 'operator-script':
        return answerValue(internal['operator-script']);
      case 'volumes':
        return answerValue(internal['sdc:volumes']);
      default:
        if (want.startsWith('tags.')) return answerValue(obj(vm.tags)[want.slice(5)]);
        return answerValue(lookup(vm, want));
    }
  }
  if (isInternal(vm, key)) return answerValue(obj(vm.internal_metadata)[key]);
  return answerValue(obj(vm.customer_metadata)[key]);
}

/** KEYS: the customer keys, then the internal keys the guest may read by name. */
export function listKeys(vm: MetaVm): string[] {
  const customer = Object.keys(obj(vm.customer_metadata)).filter((k) => !isInternal(vm, k));
  const internal = Object.keys(obj(vm.internal_metadata)).filter((k) => isInternal(vm, k));
  return [...customer, ...internal];
}

/** Why a key may not be changed by the guest, or undefined. */
function refusal(vm: MetaVm, key: string): string | undefined {
  if (key.startsWith('sdc:')) return 'Cannot update the "sdc" Namespace.';
  const ns = namespaceOf(vm, key);
  return ns === undefined ? undefined : `Cannot update the "${ns}" Namespace.`;
}

const storeOf = (key: string) =>
  key.endsWith('_pw') || key === 'operator-script' ? 'internal_metadata' : 'customer_metadata';

/** The answer to a request that changes nothing (all but PUT and DELETE), at once; else undefined. */
export function answerNow(vm: MetaVm, req: Request): Answer | undefined {
  const cmd = req.command;
  if (req.version === 2 && (cmd === 'PUT' || cmd === 'DELETE')) return undefined;
  if (cmd === 'NEGOTIATE') {
    if (req.version !== 1 || !req.arg) return { code: 'INVALID' };
    return req.arg === 'V2' ? { code: 'V2_OK' } : { code: 'FAILURE' };
  }
  if (cmd === 'GET') {
    if (!req.arg) return { code: 'FAILURE', message: 'Invalid GET Request' };
    return getKey(vm, req.arg);
  }
  if (cmd === 'KEYS') return { code: 'SUCCESS', value: listKeys(vm).join('\n') };
  return { code: 'FAILURE', message: `Unknown command ${cmd}` };
}

/** Answer one request for the VM (`update` changes it: PUT and DELETE). */
export async function answer(vm: MetaVm, req: Request, update: MetaUpdate): Promise<Answer> {
  const now = answerNow(vm, req);
  if (now) return now;
  const cmd = req.command;
  {
    let key = req.arg;
    let value = '';
    if (cmd === 'PUT') {
      const parts = req.arg.split(' ');
      const k = parts.length === 2 ? Buffer.from(parts[0]!, 'base64').toString('utf8') : '';
      if (!k) return { code: 'FAILURE', message: 'Invalid PUT Request' };
      key = k;
      value = Buffer.from(parts[1]!, 'base64').toString('utf8');
    } else if (!key) return { code: 'FAILURE', message: 'Invalid DELETE Request' };
    const refused = refusal(vm, key);
    if (refused) return { code: 'FAILURE', message: refused };
    const store = storeOf(key);
    // An empty PUT deletes, as SmartOS's agent does.
    const payload = value ? { [`set_${store}`]: { [key]: value } } : { [`remove_${store}`]: [key] };
    try {
      await update(payload);
    } catch (err) {
      return { code: 'FAILURE', message: err instanceof Error ? err.message : String(err) };
    }
    return { code: 'SUCCESS', value: 'OK' };
  }
}
