/**
 * The Zonix web console: the VM list (filter, sort, live state), a VM's page, the create form, images
 * (with imports and their progress), datasets and networking. Pages are addressed by the URL's hash
 * (#/, #/vm/<uuid>, #/create, #/images, #/datasets, #/network), so the browser's back button works.
 * @module
 */
import { render } from 'preact';
import { useEffect, useMemo, useState } from 'preact/hooks';
import {
  ApiFailure,
  call,
  follow,
  live,
  mib,
  needToken,
  vms,
  watchJob,
  type Job,
  type Vm,
  type Image,
} from './api.ts';
import { CreateForm } from './create.tsx';
import { VmPage } from './vm-page.tsx';
import './style.css';

function useHash(): [string, (h: string) => void] {
  const [hash, setHash] = useState(location.hash || '#/');
  useEffect(() => {
    const on = () => setHash(location.hash || '#/');
    window.addEventListener('hashchange', on);
    return () => window.removeEventListener('hashchange', on);
  }, []);
  return [hash, (h: string) => (location.hash = h)];
}

const COLUMNS: { key: string; label: string }[] = [
  { key: 'alias', label: 'Alias' },
  { key: 'uuid', label: 'UUID' },
  { key: 'brand', label: 'Brand' },
  { key: 'ram', label: 'Memory' },
  { key: 'state', label: 'State' },
];

/** A value as a table cell shows it. */
const show = (v: unknown): string =>
  typeof v === 'string' ? v : v === undefined || v === null ? '' : JSON.stringify(v);

function VmList({ go }: { go: (h: string) => void }) {
  const [filter, setFilter] = useState('');
  const [sort, setSort] = useState<{ key: string; desc: boolean }>({ key: 'alias', desc: false });
  const list = useMemo(() => {
    const f = filter.trim().toLowerCase();
    const rows = [...vms.value.values()].filter(
      (v) =>
        !f ||
        [v.alias, v.uuid, v.brand, v.state, v.hostname].some((x) => (x ?? '').toLowerCase().includes(f)),
    );
    const val = (v: Vm) => (sort.key === 'ram' ? (v.max_physical_memory ?? 0) : show(v[sort.key]));
    rows.sort((a, b) => {
      const x = val(a);
      const y = val(b);
      const c = typeof x === 'number' && typeof y === 'number' ? x - y : String(x).localeCompare(String(y));
      return sort.desc ? -c : c;
    });
    return rows;
  }, [vms.value, filter, sort]);
  return (
    <section>
      <header class="listhead">
        <h1>VMs</h1>
        <input
          type="search"
          aria-label="filter"
          placeholder="Filter (alias, uuid, brand, state)  /"
          value={filter}
          onInput={(e) => setFilter(e.currentTarget.value)}
          id="filter"
        />
        <button class="primary" onClick={() => go('#/create')}>
          New VM
        </button>
      </header>
      <table class="vms">
        <thead>
          <tr>
            {COLUMNS.map((c) => (
              <th aria-sort={sort.key === c.key ? (sort.desc ? 'descending' : 'ascending') : 'none'}>
                <button
                  class="sort"
                  onClick={() => setSort({ key: c.key, desc: sort.key === c.key ? !sort.desc : false })}
                >
                  {c.label}
                  {sort.key === c.key ? (sort.desc ? ' ▾' : ' ▴') : ''}
                </button>
              </th>
            ))}
          </tr>
        </thead>
        <tbody>
          {list.map((v) => (
            <tr
              data-uuid={v.uuid}
              tabIndex={0}
              onClick={() => go(`#/vm/${v.uuid}`)}
              onKeyDown={(e) => e.key === 'Enter' && go(`#/vm/${v.uuid}`)}
            >
              <td>{v.alias ?? <span class="muted">–</span>}</td>
              <td class="mono">{v.uuid}</td>
              <td>{v.brand}</td>
              <td>{v.max_physical_memory ? `${v.max_physical_memory} MiB` : ''}</td>
              <td>
                <span class={`badge ${v.state}`}>{v.state}</span>
              </td>
            </tr>
          ))}
        </tbody>
      </table>
      {list.length === 0 ? (
        <p class="muted">{vms.value.size ? 'No VM matches.' : 'No VMs yet: make one with “New VM”.'}</p>
      ) : null}
    </section>
  );
}

function Images() {
  const [installed, setInstalled] = useState<Image[]>([]);
  const [avail, setAvail] = useState<Image[]>([]);
  const [jobs, setJobs] = useState<Record<string, Job>>({});
  const [error, setError] = useState<string>();
  const load = () => {
    void call<Image[]>('GET', '/v1/images').then(setInstalled);
    void call<Image[]>('GET', '/v1/images/available').then(setAvail);
  };
  useEffect(load, []);
  const have = new Set(installed.map((i) => i.manifest.uuid));
  const importIt = async (uuid: string) => {
    setError(undefined);
    try {
      const r = await call<{ job: Job }>('POST', '/v1/images', { uuid });
      await watchJob(r.job.uuid, (j) => setJobs((o) => ({ ...o, [uuid]: j })));
      load();
    } catch (err) {
      setError(err instanceof ApiFailure ? err.body.message : String(err));
    }
  };
  const remove = async (uuid: string) => {
    setError(undefined);
    try {
      await call('DELETE', `/v1/images/${uuid}`);
      load();
    } catch (err) {
      setError(err instanceof ApiFailure ? err.body.message : String(err));
    }
  };
  const progress = (j?: Job) => {
    if (!j) return null;
    if (j.state !== 'running')
      return <span class="muted">{j.state === 'failed' ? j.error?.message : j.state}</span>;
    const p = j.progress;
    if (p?.total) return <progress max={p.total} value={p.done ?? 0} />;
    return <span class="muted">{p?.done ? mib(p.done) : (p?.phase ?? 'starting')}…</span>;
  };
  return (
    <section>
      <h1>Images</h1>
      {error ? (
        <p class="error banner" role="alert">
          {error}
        </p>
      ) : null}
      <table>
        <thead>
          <tr>
            <th>Name</th>
            <th>Version</th>
            <th>OS</th>
            <th>UUID</th>
            <th>Used by</th>
            <th />
          </tr>
        </thead>
        <tbody>
          {installed.map((i) => (
            <tr>
              <td>{i.manifest.name}</td>
              <td>{i.manifest.version}</td>
              <td>{i.manifest.os}</td>
              <td class="mono">{i.manifest.uuid}</td>
              <td>{i.clones ?? 0} VMs</td>
              <td>
                <button
                  class="danger"
                  disabled={(i.clones ?? 0) > 0}
                  onClick={() => void remove(i.manifest.uuid)}
                >
                  Delete
                </button>
              </td>
            </tr>
          ))}
        </tbody>
      </table>
      <h2>Available from the sources</h2>
      <table>
        <tbody>
          {avail.map((i) => (
            <tr>
              <td>{i.manifest.name}</td>
              <td>{i.manifest.version}</td>
              <td class="mono">{i.manifest.uuid}</td>
              <td class="muted">{i.source}</td>
              <td>
                {have.has(i.manifest.uuid) ? (
                  <span class="muted">installed</span>
                ) : jobs[i.manifest.uuid] ? (
                  progress(jobs[i.manifest.uuid])
                ) : (
                  <button onClick={() => void importIt(i.manifest.uuid)}>Import</button>
                )}
              </td>
            </tr>
          ))}
        </tbody>
      </table>
    </section>
  );
}

function Datasets() {
  const [rows, setRows] = useState<
    {
      name: string;
      type: string;
      used?: number;
      available?: number;
      quota?: number;
      mountpoint?: string;
      origin?: string;
    }[]
  >([]);
  useEffect(() => void call<typeof rows>('GET', '/v1/datasets').then(setRows), []);
  return (
    <section>
      <h1>Datasets</h1>
      <table>
        <thead>
          <tr>
            <th>Name</th>
            <th>Type</th>
            <th>Used</th>
            <th>Available</th>
            <th>Quota</th>
            <th>Mountpoint</th>
          </tr>
        </thead>
        <tbody>
          {rows.map((d) => (
            <tr>
              <td class="mono">{d.name}</td>
              <td>{d.type}</td>
              <td>{d.used !== undefined ? mib(d.used) : ''}</td>
              <td>{d.available !== undefined ? mib(d.available) : ''}</td>
              <td>{d.quota ? mib(d.quota) : 'none'}</td>
              <td class="mono">{d.mountpoint ?? ''}</td>
            </tr>
          ))}
        </tbody>
      </table>
    </section>
  );
}

function Network() {
  const [tags, setTags] = useState<
    { name: string; kind: string; mac?: string; link?: string; net?: { gateway?: string }; vms?: string[] }[]
  >([]);
  useEffect(() => void call<typeof tags>('GET', '/v1/nictags').then(setTags), []);
  return (
    <section>
      <h1>Nic tags and etherstubs</h1>
      <table>
        <thead>
          <tr>
            <th>Name</th>
            <th>Kind</th>
            <th>Uplink</th>
            <th>Host network</th>
            <th>VMs</th>
          </tr>
        </thead>
        <tbody>
          {tags.map((t) => (
            <tr>
              <td>{t.name}</td>
              <td>{t.kind}</td>
              <td class="mono">{t.link ?? t.mac ?? ''}</td>
              <td>{t.net?.gateway ?? ''}</td>
              <td>{t.vms?.length ?? 0}</td>
            </tr>
          ))}
        </tbody>
      </table>
    </section>
  );
}

function SignIn() {
  const [token, setToken] = useState('');
  return (
    <form
      class="signin"
      onSubmit={(e) => (e.preventDefault(), (location.href = `/?token=${encodeURIComponent(token.trim())}`))}
    >
      <h1>Zonix</h1>
      <p>
        Paste the token from <code>/run/zonix/zonixd.token</code> on the host (or open the address{' '}
        <code>setup.sh</code> printed).
      </p>
      <input
        type="password"
        aria-label="token"
        value={token}
        onInput={(e) => setToken(e.currentTarget.value)}
        autoFocus
      />
      <button class="primary" type="submit">
        Sign in
      </button>
    </form>
  );
}

function App() {
  const [hash, go] = useHash();
  useEffect(() => {
    // "/" focuses the filter, "n" opens the create form (not while typing).
    const on = (e: KeyboardEvent) => {
      const t = e.target as HTMLElement;
      if (t.closest('input, textarea, select, .terminal')) return;
      if (e.key === '/') {
        e.preventDefault();
        go('#/');
        setTimeout(() => document.getElementById('filter')?.focus(), 0);
      } else if (e.key === 'n') go('#/create');
    };
    window.addEventListener('keydown', on);
    return () => window.removeEventListener('keydown', on);
  }, []);
  if (needToken.value) return <SignIn />;
  const vmMatch = /^#\/vm\/([0-9a-f-]{36})$/.exec(hash);
  let page;
  if (vmMatch) page = <VmPage uuid={vmMatch[1]!} go={go} />;
  else if (hash === '#/create') page = <CreateForm onCreated={(uuid) => go(`#/vm/${uuid}`)} />;
  else if (hash === '#/images') page = <Images />;
  else if (hash === '#/datasets') page = <Datasets />;
  else if (hash === '#/network') page = <Network />;
  else page = <VmList go={go} />;
  const nav = [
    ['#/', 'VMs'],
    ['#/images', 'Images'],
    ['#/datasets', 'Datasets'],
    ['#/network', 'Network'],
  ];
  return (
    <>
      <header class="top">
        <a class="logo" href="#/">
          Zonix
        </a>
        <nav>
          {nav.map(([h, label]) => (
            <a
              href={h}
              aria-current={
                hash === h || (h === '#/' && (vmMatch || hash === '#/create')) ? 'page' : undefined
              }
            >
              {label}
            </a>
          ))}
        </nav>
        <span class={`live ${live.value}`} title="events stream">
          {live.value}
        </span>
      </header>
      <main>{page}</main>
    </>
  );
}

follow();
render(<App />, document.getElementById('app')!);
