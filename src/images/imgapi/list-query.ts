/**
 * `GET /images` query parameters (smartos.md 4.3) turned into a filter, an order, a marker and a
 * limit. Pure functions, so the server only wires them to the provider.
 * @module
 */
import { invalidParam } from './errors.ts';
import type { ImageManifest } from './types.ts';

export const MAX_LIMIT = 1000;
export const UUID_RE = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

const STATES = new Set(['active', 'disabled', 'unactivated', 'creating', 'failed', 'all']);

export type SortOrder = 'asc' | 'desc';
export type Marker = { uuid: string } | { date: number };

export interface ListQuery {
  match: (m: ImageManifest) => boolean;
  order: SortOrder;
  limit: number;
  marker: Marker | undefined;
}

type Predicate = (m: ImageManifest) => boolean;

/** A manifest's state; manifests without `state` get it from `disabled`/`activated`, as IMGAPI does. */
export function stateOf(m: ImageManifest): string {
  if (typeof m.state === 'string') return m.state;
  if (m.disabled === true) return 'disabled';
  return m.activated === false ? 'unactivated' : 'active';
}

/** `published_at` as milliseconds; images never published sort first. */
export function publishedTime(m: ImageManifest): number {
  const t = typeof m.published_at === 'string' ? Date.parse(m.published_at) : NaN;
  return Number.isNaN(t) ? 0 : t;
}

/** Ascending order: `published_at`, then `uuid`. `desc` is its exact reverse. */
export function compareManifests(a: ImageManifest, b: ImageManifest, order: SortOrder = 'asc'): number {
  const byTime = publishedTime(a) - publishedTime(b);
  const asc = byTime !== 0 ? byTime : a.uuid < b.uuid ? -1 : a.uuid > b.uuid ? 1 : 0;
  return order === 'asc' ? asc : -asc;
}

/** `~sub` matches a substring, anything else the exact value. */
function textFilter(field: 'name' | 'version', want: string): Predicate {
  if (want.startsWith('~')) {
    const sub = want.slice(1);
    return (m) => typeof m[field] === 'string' && m[field].includes(sub);
  }
  return (m) => m[field] === want;
}

/** A tag's value as the query compares it (`tag.smartdc_service=true`). */
const tagText = (v: unknown) =>
  typeof v === 'string' || typeof v === 'number' || typeof v === 'boolean' ? String(v) : undefined;

/** `tag.<key>=<value>`: the tag equals the value, or (a list) holds it. */
function tagFilter(key: string, want: string): Predicate {
  return (m) => {
    const v = m.tags?.[key];
    return Array.isArray(v) ? v.some((x) => tagText(x) === want) : tagText(v) === want;
  };
}

function parseBool(field: string, value: string): boolean {
  if (value === 'true') return true;
  if (value === 'false') return false;
  throw invalidParam(field, `invalid value for "${field}": "${value}" (must be true or false)`);
}

function parseLimit(value: string | null): number {
  if (value === null) return MAX_LIMIT;
  const n = /^\d+$/.test(value) ? Number(value) : NaN;
  if (!(n >= 1)) throw invalidParam('limit', `invalid limit: "${value}"`);
  return Math.min(n, MAX_LIMIT);
}

function parseSort(value: string | null): SortOrder {
  if (value === null) return 'asc';
  const [attr, order = 'asc', ...rest] = value.split('.');
  if (attr !== 'published_at')
    throw invalidParam('sort', `invalid 'sort': not a valid sorting attribute: '${attr ?? ''}'`);
  const o = order.toLowerCase();
  if ((o !== 'asc' && o !== 'desc') || rest.length > 0)
    throw invalidParam('sort', `invalid 'sort': not a valid sort order: '${value}'`);
  return o;
}

function parseMarker(value: string | null): Marker | undefined {
  if (value === null || value === '') return undefined;
  if (UUID_RE.test(value)) return { uuid: value.toLowerCase() };
  const date = Date.parse(value);
  if (Number.isNaN(date))
    throw invalidParam('marker', `invalid value for "marker" param: "${value}" is not a UUID or date string`);
  return { date };
}

function stateFilter(value: string | null): Predicate | undefined {
  const state = value ?? 'active';
  if (!STATES.has(state)) throw invalidParam('state', `invalid state: "${state}"`);
  return state === 'all' ? undefined : (m) => stateOf(m) === state;
}

/** Every filter in `params`; unknown parameters (`account`, `channel`, ...) are ignored. */
function filters(params: URLSearchParams): Predicate[] {
  const out: Predicate[] = [];
  const add = (p: Predicate | undefined) => p && out.push(p);
  add(stateFilter(params.get('state')));
  for (const field of ['name', 'version'] as const) {
    const v = params.get(field);
    if (v !== null) add(textFilter(field, v));
  }
  for (const field of ['owner', 'os'] as const) {
    const v = params.get(field);
    if (v !== null) add((m) => m[field] === v);
  }
  const type = params.get('type');
  if (type?.startsWith('!')) add((m) => m.type !== type.slice(1));
  else if (type !== null) add((m) => m.type === type);
  const pub = params.get('public');
  if (pub !== null) {
    const want = parseBool('public', pub);
    add((m) => (m.public ?? false) === want);
  }
  for (const bt of params.getAll('billing_tag')) add((m) => m.billing_tags?.includes(bt) ?? false);
  for (const [key, value] of params) {
    if (key.startsWith('tag.') && key.length > 4) add(tagFilter(key.slice(4), value));
  }
  return out;
}

/** Parse a `GET /images` query; throws `InvalidParameter` (422) for a bad value. */
export function parseListQuery(params: URLSearchParams): ListQuery {
  const preds = filters(params);
  return {
    match: (m) => preds.every((p) => p(m)),
    order: parseSort(params.get('sort')),
    limit: parseLimit(params.get('limit')),
    marker: parseMarker(params.get('marker')),
  };
}

/**
 * Apply `q` to `all`. A uuid marker keeps images from that one on, inclusive, in sort order
 * (`markerImage` is the marker's manifest, found by the caller); a date marker keeps
 * `published_at >= date`.
 */
export function selectManifests(
  all: readonly ImageManifest[],
  q: ListQuery,
  markerImage?: ImageManifest,
): ImageManifest[] {
  let hits = all.filter(q.match).sort((a, b) => compareManifests(a, b, q.order));
  const marker = q.marker;
  if (marker && 'date' in marker) hits = hits.filter((m) => publishedTime(m) >= marker.date);
  else if (markerImage) hits = hits.filter((m) => compareManifests(m, markerImage, q.order) >= 0);
  return hits.slice(0, q.limit);
}
