import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chooseRuntime, hostRuntimeName } from './runtimes.ts';
import { ZoneStates } from './state.ts';

const finding = (usable: boolean) => ({ usable, version: null, detail: '' });
const probe = (mode: 'v1' | 'v2' | 'hybrid', runc: boolean, crun: boolean) => ({
  cgroup: { mode, controllers: [] },
  runtimes: { runc: finding(runc), crun: finding(crun) },
});

describe('chooseRuntime', () => {
  it('takes crun where cgroups are v2 only, runc on v1 and hybrid hosts', () => {
    assert.equal(chooseRuntime(probe('v2', true, true)), 'crun');
    assert.equal(chooseRuntime(probe('hybrid', true, true)), 'runc');
    assert.equal(chooseRuntime(probe('v1', true, true)), 'runc');
  });

  it('takes the one that really ran a container, or none', () => {
    assert.equal(chooseRuntime(probe('hybrid', false, true)), 'crun');
    assert.equal(chooseRuntime(probe('v2', true, false)), 'runc');
    assert.equal(chooseRuntime(probe('v2', false, false)), undefined);
  });

  it('ZONIX_RUNTIME overrides the choice, and must name a runtime', () => {
    const saved = process.env.ZONIX_RUNTIME;
    try {
      process.env.ZONIX_RUNTIME = 'crun';
      assert.equal(hostRuntimeName(), 'crun');
      process.env.ZONIX_RUNTIME = 'kata';
      assert.throws(() => hostRuntimeName(), /ZONIX_RUNTIME=kata: must be one of runc, crun/);
    } finally {
      if (saved === undefined) delete process.env.ZONIX_RUNTIME;
      else process.env.ZONIX_RUNTIME = saved;
    }
  });
});

describe('ZoneStates', () => {
  const dir = mkdtempSync(join(tmpdir(), 'zonix-states-'));
  const saved = process.env.ZONIX_RUN_DIR;
  process.env.ZONIX_RUN_DIR = dir;
  after(() => {
    if (saved === undefined) delete process.env.ZONIX_RUN_DIR;
    else process.env.ZONIX_RUN_DIR = saved;
    rmSync(dir, { recursive: true, force: true });
  });
  // This process stands in for a zone's init: its PID and start time are real.
  const start = readFileSync(`/proc/${process.pid}/stat`, 'latin1').split(') ')[1]!.split(' ')[19]!;

  it("reads runc's and crun's state files, each in its own layout", () => {
    mkdirSync(join(dir, 'runc', 'a'), { recursive: true });
    writeFileSync(
      join(dir, 'runc', 'a', 'state.json'),
      `{"id":"a","init_process_pid":${process.pid},"init_process_start":${start},"config":{}}`,
    );
    mkdirSync(join(dir, 'crun', 'b'), { recursive: true });
    writeFileSync(
      join(dir, 'crun', 'b', 'status'),
      `{\n    "pid": ${process.pid},\n    "process-start-time": ${start},\n    "cgroup-path": "/b"\n}\n`,
    );
    writeFileSync(join(dir, 'crun', 'b', 'exec.fifo'), '');
    const states = new ZoneStates();
    assert.deepEqual(states.stateSync('a'), { status: 'running', pid: process.pid });
    assert.deepEqual(states.stateSync('b'), { status: 'created', pid: process.pid });
    assert.equal(states.stateSync('c'), undefined);
    // Each runtime reads only its own zones.
    assert.equal(new ZoneStates('runc').stateSync('b'), undefined);
    assert.equal(new ZoneStates('crun').stateSync('a'), undefined);
  });

  it('calls a zone whose init has gone (or whose PID was reused) stopped', () => {
    mkdirSync(join(dir, 'crun', 'd'), { recursive: true });
    writeFileSync(join(dir, 'crun', 'd', 'status'), `{"pid": ${process.pid}, "process-start-time": 1}`);
    assert.deepEqual(new ZoneStates().stateSync('d'), { status: 'stopped', pid: 0 });
  });
});
