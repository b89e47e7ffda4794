/**
 * A VM's page: its state and actions, properties, NICs, snapshots (create, roll back, delete), live
 * CPU, memory and network charts (uPlot, from the API's per-VM figures every 2 s), and a terminal to
 * the zone (xterm.js over the API's terminal websocket).
 * @module
 */
import { useEffect, useRef, useState } from 'preact/hooks';
import uPlot from 'uplot';
import 'uplot/dist/uPlot.min.css';
import { Terminal } from '@xterm/xterm';
import { FitAddon } from '@xterm/addon-fit';
import '@xterm/xterm/css/xterm.css';
import { ApiFailure, call, vms, type Vm } from './api.ts';

interface Figures {
  time: number;
  cpuSeconds?: number;
  memoryBytes?: number;
  memoryLimitBytes?: number;
  nics: { iface: string; rxBytes: number; txBytes: number }[];
}

const WINDOW = 60; // points kept (2 minutes)

function Chart({ title, series, data }: { title: string; series: string[]; data: number[][] }) {
  const el = useRef<HTMLDivElement>(null);
  const plot = useRef<uPlot>();
  useEffect(() => {
    if (!el.current) return;
    const colours = ['#2f7ed8', '#d9534f', '#5cb85c'];
    plot.current = new uPlot(
      {
        title,
        width: Math.max(260, el.current.clientWidth),
        height: 160,
        series: [{}, ...series.map((s, i) => ({ label: s, stroke: colours[i % colours.length], width: 2 }))],
        axes: [{}, { size: 60 }],
        legend: { live: false },
      },
      data as uPlot.AlignedData,
      el.current,
    );
    return () => plot.current?.destroy();
  }, []);
  useEffect(() => plot.current?.setData(data as uPlot.AlignedData), [data]);
  return <div class="chart" ref={el} data-points={data[0]?.length ?? 0} aria-label={title} />;
}

function Charts({ uuid }: { uuid: string }) {
  const [rows, setRows] = useState<number[][]>([[], [], [], [], []]);
  const prev = useRef<Figures>();
  useEffect(() => {
    let stop = false;
    const tick = async () => {
      try {
        const f = await call<Figures>('GET', `/v1/vms/${uuid}/metrics`);
        const p = prev.current;
        prev.current = f;
        if (p && f.time > p.time) {
          const dt = (f.time - p.time) / 1000;
          const sum = (x: Figures, k: 'rxBytes' | 'txBytes') => x.nics.reduce((a, n) => a + n[k], 0);
          const cpu =
            f.cpuSeconds !== undefined && p.cpuSeconds !== undefined
              ? ((f.cpuSeconds - p.cpuSeconds) / dt) * 100
              : 0;
          const point = [
            f.time / 1000,
            cpu,
            (f.memoryBytes ?? 0) / 1048576,
            (sum(f, 'rxBytes') - sum(p, 'rxBytes')) / dt,
            (sum(f, 'txBytes') - sum(p, 'txBytes')) / dt,
          ];
          setRows((old) => old.map((col, i) => [...col, point[i]!].slice(-WINDOW)));
        }
      } catch {
        /* stopped or gone: the charts stay as they were */
      }
      if (!stop) timer = setTimeout(() => void tick(), 2000);
    };
    let timer: ReturnType<typeof setTimeout> | undefined;
    void tick();
    return () => {
      stop = true;
      clearTimeout(timer);
    };
  }, [uuid]);
  const [t, cpu, mem, rx, tx] = rows as [number[], number[], number[], number[], number[]];
  return (
    <section class="charts">
      <Chart title="CPU (%)" series={['cpu']} data={[t, cpu]} />
      <Chart title="Memory (MiB)" series={['used']} data={[t, mem]} />
      <Chart title="Network (bytes/s)" series={['in', 'out']} data={[t, rx, tx]} />
    </section>
  );
}

function Term({ uuid }: { uuid: string }) {
  const el = useRef<HTMLDivElement>(null);
  const [status, setStatus] = useState('connecting…');
  useEffect(() => {
    if (!el.current) return;
    const term = new Terminal({ cursorBlink: true, fontSize: 14, convertEol: false });
    const fit = new FitAddon();
    term.loadAddon(fit);
    term.open(el.current);
    fit.fit();
    const proto = location.protocol === 'https:' ? 'wss' : 'ws';
    const ws = new WebSocket(
      `${proto}://${location.host}/v1/vms/${uuid}/console?kind=login&cols=${term.cols}&rows=${term.rows}`,
    );
    ws.binaryType = 'arraybuffer';
    ws.onopen = () => {
      setStatus('connected');
      term.focus();
    };
    ws.onmessage = (m) => term.write(new Uint8Array(m.data as ArrayBuffer));
    ws.onclose = (e) => setStatus(`closed${e.reason ? `: ${e.reason}` : ''}`);
    const input = term.onData(
      (data) => ws.readyState === WebSocket.OPEN && ws.send(JSON.stringify({ type: 'input', data })),
    );
    const resize = term.onResize(
      ({ cols, rows }) =>
        ws.readyState === WebSocket.OPEN && ws.send(JSON.stringify({ type: 'resize', cols, rows })),
    );
    const onWindow = () => fit.fit();
    window.addEventListener('resize', onWindow);
    return () => {
      window.removeEventListener('resize', onWindow);
      input.dispose();
      resize.dispose();
      ws.close();
      term.dispose();
    };
  }, [uuid]);
  return (
    <section>
      <h2>
        Terminal{' '}
        <small class="muted" data-status={status}>
          {status}
        </small>
      </h2>
      <div class="terminal" ref={el} />
    </section>
  );
}

export function VmPage({ uuid, go }: { uuid: string; go: (hash: string) => void }) {
  const vm: Vm | undefined = vms.value.get(uuid);
  const [busy, setBusy] = useState<string>();
  const [error, setError] = useState<string>();
  const [snap, setSnap] = useState('');
  const [tab, setTab] = useState<'overview' | 'terminal'>('overview');
  if (!vm) return <p class="muted">No VM {uuid} (it may have been deleted).</p>;
  const run = async (what: string, fn: () => Promise<unknown>) => {
    setBusy(what);
    setError(undefined);
    try {
      await fn();
    } catch (err) {
      setError(err instanceof ApiFailure ? err.body.message : String(err));
    } finally {
      setBusy(undefined);
    }
  };
  const act = (what: string, fn: () => Promise<unknown>): void => void run(what, fn);
  const running = vm.state === 'running';
  const props = Object.entries(vm)
    .filter(
      ([k, v]) =>
        v !== undefined &&
        !['nics', 'snapshots', 'customer_metadata', 'internal_metadata', 'tags'].includes(k),
    )
    .sort(([a], [b]) => a.localeCompare(b));
  return (
    <article class="vm">
      <header class="vmhead">
        <h1>
          {vm.alias ?? vm.uuid} <span class={`badge ${vm.state}`}>{vm.state}</span>
        </h1>
        <div class="actions">
          <button
            disabled={!!busy || running}
            onClick={() => act('start', () => call('POST', `/v1/vms/${uuid}/start`, {}))}
          >
            Start
          </button>
          <button
            disabled={!!busy || !running}
            onClick={() => act('stop', () => call('POST', `/v1/vms/${uuid}/stop`, {}))}
          >
            Stop
          </button>
          <button
            disabled={!!busy || !running}
            onClick={() => act('reboot', () => call('POST', `/v1/vms/${uuid}/reboot`, {}))}
          >
            Reboot
          </button>
          <button
            class="danger"
            disabled={!!busy}
            onClick={() => {
              if (confirm(`Delete VM ${vm.alias ?? uuid}? Its data goes with it.`))
                act('delete', async () => {
                  await call('DELETE', `/v1/vms/${uuid}`);
                  go('#/');
                });
            }}
          >
            Delete
          </button>
        </div>
      </header>
      {busy ? <p class="progress">{busy}…</p> : null}
      {error ? (
        <p class="error banner" role="alert">
          {error}
        </p>
      ) : null}
      <nav class="tabs" role="tablist">
        <button role="tab" aria-selected={tab === 'overview'} onClick={() => setTab('overview')}>
          Overview
        </button>
        <button
          role="tab"
          aria-selected={tab === 'terminal'}
          disabled={!running}
          onClick={() => setTab('terminal')}
        >
          Terminal
        </button>
      </nav>
      {tab === 'terminal' && running ? (
        <Term uuid={uuid} />
      ) : (
        <>
          <Charts uuid={uuid} />
          <section>
            <h2>NICs</h2>
            {vm.nics?.length ? (
              <table>
                <thead>
                  <tr>
                    <th>interface</th>
                    <th>nic tag</th>
                    <th>mac</th>
                    <th>ip</th>
                    <th>gateway</th>
                    <th>vlan</th>
                  </tr>
                </thead>
                <tbody>
                  {vm.nics.map((n) => (
                    <tr>
                      <td>{n.interface}</td>
                      <td>{n.nic_tag}</td>
                      <td>{n.mac}</td>
                      <td>{n.ips?.join(', ') ?? n.ip}</td>
                      <td>{n.gateway}</td>
                      <td>{n.vlan_id ?? ''}</td>
                    </tr>
                  ))}
                </tbody>
              </table>
            ) : (
              <p class="muted">No NICs.</p>
            )}
          </section>
          <section>
            <h2>Snapshots</h2>
            <form
              class="inline"
              onSubmit={(e) => {
                e.preventDefault();
                act('snapshot', async () => {
                  await call('POST', `/v1/vms/${uuid}/snapshots`, { name: snap });
                  setSnap('');
                });
              }}
            >
              <input
                aria-label="snapshot name"
                placeholder="snapshot name"
                value={snap}
                onInput={(e) => setSnap(e.currentTarget.value)}
              />
              <button type="submit" disabled={!snap || !!busy}>
                Take snapshot
              </button>
            </form>
            <ul class="snapshots">
              {(vm.snapshots ?? []).map((s) => (
                <li>
                  <span>{s.name}</span> <small class="muted">{s.created_at}</small>
                  <button
                    disabled={!!busy}
                    onClick={() =>
                      act('rollback', () =>
                        call('POST', `/v1/vms/${uuid}/snapshots/${encodeURIComponent(s.name)}/rollback`, {}),
                      )
                    }
                  >
                    Roll back
                  </button>
                  <button
                    class="danger"
                    disabled={!!busy}
                    onClick={() =>
                      act('delete snapshot', () =>
                        call('DELETE', `/v1/vms/${uuid}/snapshots/${encodeURIComponent(s.name)}`),
                      )
                    }
                  >
                    Delete
                  </button>
                </li>
              ))}
            </ul>
          </section>
          <section>
            <h2>Properties</h2>
            <table class="props">
              <tbody>
                {props.map(([k, v]) => (
                  <tr>
                    <th>{k}</th>
                    <td>
                      {typeof v === 'string'
                        ? v
                        : k.endsWith('memory') || k === 'max_swap'
                          ? `${JSON.stringify(v)} MiB`
                          : JSON.stringify(v)}
                    </td>
                  </tr>
                ))}
              </tbody>
            </table>
          </section>
        </>
      )}
    </article>
  );
}
