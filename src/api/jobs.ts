/**
 * Jobs: the API's long operations (a create, an image import), each an `Operation` whose progress and
 * outcome a client reads at `/v1/jobs/<uuid>` (or hears on the events stream). A job's work is not
 * the job: what it makes is durable in the pool as soon as the work says so, while the job record is
 * kept in memory only (the last 500), as SmartOS's vmadmd keeps its own.
 * @module
 */
import { randomUUID } from 'node:crypto';
import type { Operation, Progress } from '../common/index.ts';
import { errorResponse, type ErrorBody } from './errors.ts';

export type JobState = 'running' | 'succeeded' | 'failed' | 'cancelled';

export interface Job {
  uuid: string;
  kind: string;
  /** The VM or image it works on. */
  subject?: string;
  state: JobState;
  created: string;
  updated: string;
  progress?: Progress;
  result?: unknown;
  error?: ErrorBody;
}

const KEEP = 500;

export class Jobs {
  private readonly jobs = new Map<string, Job>();
  private readonly controllers = new Map<string, AbortController>();
  private readonly running = new Set<Promise<unknown>>();
  private readonly ends = new Map<string, Promise<unknown>>();
  private readonly statuses = new Map<string, number>();

  /** Called with each job whenever it changes (the events stream sends it). */
  constructor(private readonly onChange: (job: Job) => void = () => undefined) {}

  /**
   * Run `work` as a job. Resolves once the work has either failed at once (then with the error:
   * a payload that does not validate is the request's fault, not a job's) or reported its first
   * progress or finished (then with the job).
   */
  start(
    kind: string,
    subject: string | undefined,
    work: (op: Operation) => Promise<unknown>,
  ): Promise<{ job: Job } | { error: unknown }> {
    const now = new Date().toISOString();
    const job: Job = {
      uuid: randomUUID(),
      kind,
      ...(subject ? { subject } : {}),
      state: 'running',
      created: now,
      updated: now,
    };
    const ac = new AbortController();
    let begun = false;
    let settle: (r: { job: Job } | { error: unknown }) => void = () => undefined;
    const first = new Promise<{ job: Job } | { error: unknown }>((resolve) => (settle = resolve));
    const register = () => {
      if (begun) return;
      begun = true;
      this.jobs.set(job.uuid, job);
      this.controllers.set(job.uuid, ac);
      this.trim();
      this.onChange(job);
      settle({ job });
    };
    const op: Operation = {
      signal: ac.signal,
      progress: (p) => {
        job.progress = p;
        if (p.subject && !job.subject) job.subject = p.subject;
        job.updated = new Date().toISOString();
        if (begun) this.onChange(job);
        else register();
      },
    };
    const p = work(op).then(
      (result) => {
        job.result = result;
        job.state = 'succeeded';
        register();
      },
      (err: unknown) => {
        if (!begun) {
          settle({ error: err });
          return;
        }
        job.state = ac.signal.aborted ? 'cancelled' : 'failed';
        const r = errorResponse(err, job.uuid);
        this.statuses.set(job.uuid, r.status);
        job.error = r.body;
        delete job.error.request_id;
      },
    );
    const tracked = p.finally(() => {
      this.running.delete(tracked);
      this.controllers.delete(job.uuid);
      if (begun) {
        job.updated = new Date().toISOString();
        this.onChange(job);
      }
    });
    this.running.add(tracked);
    this.ends.set(job.uuid, tracked);
    return first;
  }

  get(uuid: string): Job | undefined {
    return this.jobs.get(uuid);
  }

  /** Resolves once the job has ended. */
  async wait(job: Job): Promise<void> {
    await this.ends.get(job.uuid);
  }

  /** The HTTP status of a failed job's error. */
  errorStatus(job: Job): number {
    return this.statuses.get(job.uuid) ?? 500;
  }

  list(): Job[] {
    return [...this.jobs.values()];
  }

  /** Ask a running job to stop (what it made is undone, as for any failed operation). */
  cancel(uuid: string): boolean {
    const ac = this.controllers.get(uuid);
    if (!ac) return false;
    ac.abort();
    return true;
  }

  /** Resolves once every running job has ended. */
  async drain(): Promise<void> {
    while (this.running.size) await Promise.allSettled([...this.running]);
  }

  private trim() {
    for (const [id, j] of this.jobs) {
      if (this.jobs.size <= KEEP) break;
      if (j.state === 'running') continue;
      this.jobs.delete(id);
      this.ends.delete(id);
      this.statuses.delete(id);
    }
  }
}
