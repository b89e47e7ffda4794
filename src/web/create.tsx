/**
 * The create form, generated from the create payload's schema in the API's OpenAPI document (which
 * the VM property table makes): the main fields first, every other property a brand may set under
 * "More properties", each with the table's description, type, limits and default. It checks what the
 * schema says (types, limits, choices, what the brand requires) before sending, and shows the server's
 * errors by field.
 * @module
 */
import { useEffect, useMemo, useState } from 'preact/hooks';
import { ApiFailure, call, watchJob, type Image, type Job } from './api.ts';

interface PropSchema {
  type?: string | string[];
  enum?: unknown[];
  minimum?: number;
  maximum?: number;
  description?: string;
  default?: unknown;
  deprecated?: boolean;
  'x-brands'?: string[];
  items?: { properties?: Record<string, PropSchema> };
}
interface CreateSchema {
  properties: Record<string, PropSchema>;
  allOf?: { if: { properties: { brand: { const: string } } }; then: { required?: string[] } }[];
}
interface NicTag {
  name: string;
  kind: string;
}
interface Network {
  uuid: string;
  name: string;
  subnet: string;
  free?: number;
}
interface Package {
  uuid: string;
  name: string;
  memory: number;
  swap: number;
  disk: number;
  cpu_cap: number;
  lwps: number;
}

/** The fields shown first, in this order; the rest of the table goes under "More properties". */
const MAIN = [
  'image_uuid',
  'brand',
  'alias',
  'hostname',
  'max_physical_memory',
  'cpu_cap',
  'quota',
  'autoboot',
];
const SCALAR = new Set(['string', 'integer', 'boolean']);

type Values = Record<string, string | boolean>;
interface NicRow {
  /** `net:<uuid>` (an address from the network) or `tag:<name>` (as vmadm takes it). */
  on: string;
  ip: string;
  netmask: string;
  gateway: string;
  vlan_id: string;
}

function typeOf(s: PropSchema): string {
  return Array.isArray(s.type) ? (s.type[0] ?? 'string') : (s.type ?? 'string');
}

/** The schema's checks on one field: the message, or undefined when it is fine. */
export function checkField(name: string, s: PropSchema, raw: string | boolean): string | undefined {
  if (raw === '' || raw === undefined) return undefined;
  const t = typeOf(s);
  if (t === 'integer') {
    if (typeof raw !== 'string' || !/^-?\d+$/.test(raw.trim())) return `${name} must be a whole number`;
    const n = Number(raw);
    if (s.minimum !== undefined && n < s.minimum) return `${name} must be at least ${s.minimum}`;
    if (s.maximum !== undefined && n > s.maximum) return `${name} must be at most ${s.maximum}`;
  }
  if (s.enum && !s.enum.includes(raw)) return `${name} must be one of ${s.enum.join(', ')}`;
  return undefined;
}

export function CreateForm({ onCreated }: { onCreated: (uuid: string) => void }) {
  const [schema, setSchema] = useState<CreateSchema>();
  const [images, setImages] = useState<Image[]>([]);
  const [tags, setTags] = useState<NicTag[]>([]);
  const [networks, setNetworks] = useState<Network[]>([]);
  const [packages, setPackages] = useState<Package[]>([]);
  const [values, setValues] = useState<Values>({
    brand: 'joyent-minimal',
    max_physical_memory: '256',
    autoboot: true,
  });
  const [nics, setNics] = useState<NicRow[]>([]);
  const [errors, setErrors] = useState<Record<string, string>>({});
  const [failure, setFailure] = useState<string>();
  const [job, setJob] = useState<Job>();
  const [more, setMore] = useState(false);

  useEffect(() => {
    void call<{
      paths: Record<
        string,
        { post?: { requestBody?: { content: Record<string, { schema: CreateSchema }> } } }
      >;
    }>('GET', '/v1/openapi.json').then((doc) =>
      setSchema(doc.paths['/v1/vms']?.post?.requestBody?.content['application/json']?.schema),
    );
    void call<Image[]>('GET', '/v1/images').then((list) => {
      setImages(list);
      const first = list[0];
      if (first) setValues((v) => (v.image_uuid ? v : { ...v, image_uuid: first.manifest.uuid }));
    });
    void call<NicTag[]>('GET', '/v1/nictags').then(setTags);
    void call<Network[]>('GET', '/v1/networks').then(setNetworks);
    void call<Package[]>('GET', '/v1/packages').then(setPackages);
  }, []);

  const brand = String(values.brand ?? '');
  const brands = (schema?.properties.brand?.enum ?? []) as string[];
  const forBrand = (s: PropSchema) => !s['x-brands'] || s['x-brands'].includes(brand);
  const required = useMemo(
    () => new Set(schema?.allOf?.find((a) => a.if.properties.brand.const === brand)?.then.required ?? []),
    [schema, brand],
  );
  const others = useMemo(
    () =>
      Object.entries(schema?.properties ?? {})
        .filter(
          ([k, s]) =>
            !MAIN.includes(k) && SCALAR.has(typeOf(s)) && forBrand(s) && !s.deprecated && k !== 'uuid',
        )
        .sort(([a], [b]) => a.localeCompare(b)),
    [schema, brand],
  );

  if (!schema) return <p class="muted">Loading the property table…</p>;

  const set = (k: string, v: string | boolean) => {
    setValues({ ...values, [k]: v });
    const s = schema.properties[k];
    const e = s ? checkField(k, s, v) : undefined;
    setErrors((old) => {
      const next = { ...old };
      if (e) next[k] = e;
      else delete next[k];
      return next;
    });
  };

  const payload = (): Record<string, unknown> => {
    const p: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(values)) {
      const s = schema.properties[k];
      if (!s || v === '' || !forBrand(s)) continue;
      p[k] = typeOf(s) === 'integer' ? Number(v) : v;
    }
    if (nics.length)
      p.nics = nics.map((n, i) =>
        n.on.startsWith('net:')
          ? {
              network_uuid: n.on.slice(4),
              ...(n.ip ? { ip: n.ip } : {}),
              ...(i === 0 ? { primary: true } : {}),
            }
          : {
              nic_tag: n.on.slice(4),
              ...(n.ip ? { ip: n.ip } : {}),
              ...(n.netmask ? { netmask: n.netmask } : {}),
              ...(n.gateway ? { gateway: n.gateway } : {}),
              ...(n.vlan_id ? { vlan_id: Number(n.vlan_id) } : {}),
              ...(i === 0 ? { primary: true } : {}),
            },
      );
    return p;
  };

  const submit = async (e: Event) => {
    e.preventDefault();
    setFailure(undefined);
    const errs: Record<string, string> = {};
    for (const [k, s] of Object.entries(schema.properties)) {
      const v = values[k];
      if (v !== undefined && forBrand(s)) {
        const m = checkField(k, s, v);
        if (m) errs[k] = m;
      }
    }
    for (const k of required)
      if (values[k] === undefined || values[k] === '') errs[k] = `${k} is required for ${brand}`;
    nics.forEach((n, i) => {
      if (!n.on) errs[`nics.${i}`] = 'choose a network or a nic tag';
      else if (n.on.startsWith('tag:') && n.ip && n.ip !== 'dhcp' && !n.netmask)
        errs[`nics.${i}`] = 'a static IP needs a netmask';
    });
    setErrors(errs);
    if (Object.keys(errs).length) return;
    try {
      const r = await call<{ vm_uuid: string; job: Job }>('POST', '/v1/vms', payload());
      setJob(r.job);
      const done = await watchJob(r.job.uuid, setJob);
      if (done.state === 'succeeded') onCreated(r.vm_uuid);
      else setFailure(done.error?.message ?? done.state);
    } catch (err) {
      if (err instanceof ApiFailure) {
        setFailure(err.body.message);
        const byField: Record<string, string> = {};
        for (const f of err.body.fields ?? []) byField[f.split('.')[0]!] = err.body.message;
        setErrors(byField);
      } else setFailure(String(err));
    }
  };

  const field = (k: string, s: PropSchema) => {
    const t = typeOf(s);
    const v = values[k];
    const id = `f-${k}`;
    const label = (
      <label for={id}>
        {k}
        {required.has(k) ? <span class="req"> *</span> : null}
      </label>
    );
    let input;
    if (k === 'image_uuid')
      input = (
        <select id={id} name={k} value={String(v ?? '')} onChange={(e) => set(k, e.currentTarget.value)}>
          {images.map((i) => (
            <option value={i.manifest.uuid}>
              {i.manifest.name} {i.manifest.version} ({i.manifest.uuid.slice(0, 8)})
            </option>
          ))}
        </select>
      );
    else if (k === 'brand')
      input = (
        <select id={id} name={k} value={brand} onChange={(e) => set(k, e.currentTarget.value)}>
          {brands.map((b) => (
            <option value={b}>{b}</option>
          ))}
        </select>
      );
    else if (t === 'boolean')
      input = (
        <input
          id={id}
          name={k}
          type="checkbox"
          checked={v === true || (v === undefined && s.default === true)}
          onChange={(e) => set(k, e.currentTarget.checked)}
        />
      );
    else if (s.enum)
      input = (
        <select id={id} name={k} value={String(v ?? '')} onChange={(e) => set(k, e.currentTarget.value)}>
          <option value="">(default)</option>
          {s.enum.map((o) => (
            <option value={String(o)}>{String(o)}</option>
          ))}
        </select>
      );
    else
      input = (
        <input
          id={id}
          name={k}
          inputMode={t === 'integer' ? 'numeric' : 'text'}
          placeholder={s.default !== undefined ? JSON.stringify(s.default).replace(/^"|"$/g, '') : ''}
          value={String(v ?? '')}
          onInput={(e) => set(k, e.currentTarget.value)}
          aria-invalid={errors[k] ? 'true' : 'false'}
        />
      );
    return (
      <div class={`field ${errors[k] ? 'bad' : ''}`} key={k}>
        {label}
        {input}
        <small class="doc">{s.description}</small>
        {errors[k] ? (
          <small class="error" role="alert" data-field={k}>
            {errors[k]}
          </small>
        ) : null}
      </div>
    );
  };

  return (
    <form class="create" onSubmit={(e) => void submit(e)} noValidate>
      <h1>New VM</h1>
      {packages.length ? (
        <label class="package">
          Package
          <select
            aria-label="package"
            onChange={(e) => {
              const p = packages.find((x) => x.uuid === e.currentTarget.value);
              if (!p) return;
              // A package fills in its limits (which can still be changed), as CloudAPI applies them.
              setValues({
                ...values,
                max_physical_memory: String(p.memory),
                max_swap: String(Math.max(p.swap, p.memory, 256)),
                quota: String(Math.ceil(p.disk / 1024)),
                cpu_cap: p.cpu_cap ? String(p.cpu_cap) : '',
                max_lwps: String(p.lwps),
                billing_id: p.uuid,
              });
            }}
          >
            <option value="">none (set the limits below)</option>
            {packages.map((p) => (
              <option value={p.uuid}>
                {p.name} ({p.memory} MiB, {Math.ceil(p.disk / 1024)} GiB
                {p.cpu_cap ? `, ${p.cpu_cap}% CPU` : ''})
              </option>
            ))}
          </select>
        </label>
      ) : null}
      <div class="grid">
        {MAIN.filter((k) => schema.properties[k] && forBrand(schema.properties[k])).map((k) =>
          field(k, schema.properties[k]!),
        )}
      </div>
      <h2>NICs</h2>
      {nics.map((n, i) => (
        <div class={`nic ${errors[`nics.${i}`] ? 'bad' : ''}`} key={i}>
          <select
            aria-label="network or nic tag"
            value={n.on}
            onChange={(e) => setNics(nics.map((x, j) => (j === i ? { ...x, on: e.currentTarget.value } : x)))}
          >
            <option value="">network or nic tag…</option>
            {networks.length ? (
              <optgroup label="Networks (an address is picked)">
                {networks.map((nw) => (
                  <option value={`net:${nw.uuid}`}>
                    {nw.name} ({nw.subnet}
                    {nw.free !== undefined ? `, ${nw.free} free` : ''})
                  </option>
                ))}
              </optgroup>
            ) : null}
            <optgroup label="Nic tags">
              {tags.map((t) => (
                <option value={`tag:${t.name}`}>
                  {t.name} ({t.kind})
                </option>
              ))}
            </optgroup>
          </select>
          {(n.on.startsWith('net:')
            ? (['ip'] as const)
            : (['ip', 'netmask', 'gateway', 'vlan_id'] as const)
          ).map((f) => (
            <input
              aria-label={f}
              placeholder={f === 'ip' ? (n.on.startsWith('net:') ? 'ip (picked)' : 'ip (or dhcp)') : f}
              value={n[f]}
              onInput={(e) =>
                setNics(nics.map((x, j) => (j === i ? { ...x, [f]: e.currentTarget.value } : x)))
              }
            />
          ))}
          <button type="button" onClick={() => setNics(nics.filter((_, j) => j !== i))}>
            Remove
          </button>
          {errors[`nics.${i}`] ? <small class="error">{errors[`nics.${i}`]}</small> : null}
        </div>
      ))}
      <button
        type="button"
        onClick={() =>
          setNics([
            ...nics,
            networks[0]
              ? { on: `net:${networks[0].uuid}`, ip: '', netmask: '', gateway: '', vlan_id: '' }
              : {
                  on: tags[0] ? `tag:${tags[0].name}` : '',
                  ip: 'dhcp',
                  netmask: '',
                  gateway: '',
                  vlan_id: '',
                },
          ])
        }
      >
        Add a NIC
      </button>
      <details open={more} onToggle={(e) => setMore(e.currentTarget.open)}>
        <summary>More properties ({others.length})</summary>
        <div class="grid">{others.map(([k, s]) => field(k, s))}</div>
      </details>
      {failure ? (
        <p class="error banner" role="alert">
          {failure}
        </p>
      ) : null}
      {job ? (
        <p class="progress">
          {job.state === 'running' ? `${job.progress?.phase ?? 'starting'}…` : job.state}
        </p>
      ) : null}
      <div class="actions">
        <button type="submit" class="primary" disabled={job?.state === 'running'}>
          Create
        </button>
      </div>
    </form>
  );
}
