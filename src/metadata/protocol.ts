/**
 * The SmartOS metadata protocol, as the guest tools (mdata-get, cloud-init) speak it: V1 lines
 * (`GET key`, `SUCCESS` then dot-stuffed value lines and `.`) and V2 frames
 * (`V2 <len> <crc32> <reqid> <code> [<base64>]`), on one stream, request after request. This module
 * only frames; what a request means is in keys.ts.
 * @module
 */
import { crc32 } from 'node:zlib';

/** A frame's body: the request id, a command (GET, PUT...) or an answer (SUCCESS, NOTFOUND, FAILURE). */
export interface V2Frame {
  reqid: string;
  code: string;
  /** The base64 payload as it is on the wire (undefined: none). */
  payload?: string;
}

/** CRC-32 of a frame body as the protocol writes it: zlib's, 8 lowercase hex digits. */
export function bodyCrc(body: string): string {
  return crc32(body).toString(16).padStart(8, '0');
}

const V2_RE = /^\s*([0-9]+)\s+([0-9a-f]+)\s+([0-9a-f]+)\s+(.*)$/s;

/**
 * A V2 line (its `\n` and trailing blanks already gone) as a frame, or undefined when it is not a
 * valid one: a length or CRC that does not match its body. SmartOS drops such frames unanswered.
 */
export function decodeFrame(line: string): V2Frame | undefined {
  if (!line.startsWith('V2')) return undefined;
  const m = V2_RE.exec(line.slice(2));
  if (!m) return undefined;
  const [, clen, crc, reqid, rest] = m as unknown as [string, string, string, string, string];
  const body = `${reqid} ${rest}`;
  if (Number(clen) !== Buffer.byteLength(body, 'utf8') || crc !== bodyCrc(body)) return undefined;
  const sp = rest.indexOf(' ');
  if (sp < 0) return { reqid, code: rest };
  return { reqid, code: rest.slice(0, sp), payload: rest.slice(sp + 1) };
}

/** A frame as a line, `\n` included. */
export function encodeFrame(f: V2Frame): string {
  const body = `${f.reqid} ${f.code}${f.payload ? ` ${f.payload}` : ''}`;
  return `V2 ${Buffer.byteLength(body, 'utf8')} ${bodyCrc(body)} ${body}\n`;
}

export const b64 = (s: string): string => Buffer.from(s, 'utf8').toString('base64');

const B64_RE = /^[A-Za-z0-9+/]*={0,2}$/;

/** Base64 to text; undefined when it is not base64. */
export function unb64(s: string): string | undefined {
  const t = s.trim();
  if (!B64_RE.test(t)) return undefined;
  return Buffer.from(t, 'base64').toString('utf8');
}

/** A V1 answer carrying a value: `SUCCESS`, the value's lines with a leading `.` doubled, and `.`. */
export function v1Success(value: string): string {
  return `SUCCESS\n${value.replace(/^\./gm, '..')}\n.\n`;
}

/** What a request asks, whichever version carried it. */
export interface Request {
  version: 1 | 2;
  command: string;
  /** The argument, decoded (V2: from base64); '' when none. */
  arg: string;
  /** V2: the id to answer with. */
  reqid?: string;
}

/** What the server answers; `value` with SUCCESS, `message` with FAILURE. */
export type Answer =
  | { code: 'SUCCESS'; value?: string }
  | { code: 'NOTFOUND' }
  | { code: 'FAILURE'; message?: string }
  | { code: 'INVALID' }
  | { code: 'V2_OK' };

/** An answer in the version of the request it answers. */
export function encodeAnswer(req: Request | undefined, a: Answer): string {
  if (a.code === 'INVALID' || !req) return 'invalid command\n';
  if (a.code === 'V2_OK') return 'V2_OK\n';
  if (req.version === 1) {
    if (a.code === 'SUCCESS') return v1Success(a.value ?? '');
    return `${a.code}\n`;
  }
  const reqid = req.reqid!;
  if (a.code === 'SUCCESS') return encodeFrame({ reqid, code: a.code, payload: a.value ? b64(a.value) : '' });
  if (a.code === 'FAILURE')
    return encodeFrame({ reqid, code: a.code, payload: a.message ? b64(a.message) : '' });
  return encodeFrame({ reqid, code: a.code });
}

/**
 * One line from the guest as a request. Undefined answers nothing (a V2 frame that fails its checks
 * is dropped); `'invalid'` gets `invalid command` (an empty or unparsable line: what a client's reset
 * expects).
 */
export function parseLine(raw: string): Request | 'invalid' | undefined {
  const line = raw.trimEnd();
  if (line.startsWith('V2 ') || line === 'V2') {
    const f = decodeFrame(line);
    if (!f) return undefined;
    let arg = '';
    if (f.payload !== undefined) {
      const decoded = unb64(f.payload);
      if (decoded === undefined) return undefined;
      arg = decoded;
    }
    return { version: 2, command: f.code, arg, reqid: f.reqid };
  }
  const m = /^(\S+)\s?(.*)$/s.exec(line);
  if (!m) return 'invalid';
  return { version: 1, command: m[1]!, arg: m[2]! };
}

/**
 * Splits a byte stream into lines, each at most `max` bytes: a longer one is dropped whole (up to
 * its `\n`), so that a guest cannot make the server hold more than `max` of its bytes at a time.
 */
export class LineSplitter {
  private parts: Buffer[] = [];
  private size = 0;
  /** While a line over the limit is being dropped: its first bytes (to answer a V2 frame's id). */
  private head: string | undefined;

  constructor(private readonly max: number) {}

  /**
   * The complete lines in `chunk` (and what came before it), without their `\n`; and the first 64
   * bytes of each line dropped for its length.
   */
  push(chunk: Buffer): { lines: string[]; dropped: string[] } {
    const lines: string[] = [];
    const dropped: string[] = [];
    let start = 0;
    for (;;) {
      const nl = chunk.indexOf(0x0a, start);
      const end = nl < 0 ? chunk.length : nl;
      const piece = chunk.subarray(start, end);
      if (this.head === undefined) {
        if (this.size + piece.length > this.max) {
          this.head = Buffer.concat([...this.parts, piece.subarray(0, 64)])
            .subarray(0, 64)
            .toString('latin1');
          this.parts = [];
          this.size = 0;
        } else if (piece.length) {
          this.parts.push(piece);
          this.size += piece.length;
        }
      }
      if (nl < 0) break;
      if (this.head !== undefined) dropped.push(this.head);
      else lines.push(Buffer.concat(this.parts, this.size).toString('utf8'));
      this.parts = [];
      this.size = 0;
      this.head = undefined;
      start = nl + 1;
    }
    if (this.parts.length > 1) {
      // Keep one buffer, not a chain of small ones from a guest writing a byte at a time.
      this.parts = [Buffer.concat(this.parts, this.size)];
    } else if (this.parts.length === 1 && this.parts[0]!.buffer === chunk.buffer) {
      this.parts = [Buffer.from(this.parts[0]!)];
    }
    return { lines, dropped };
  }
}

/**
 * The answer to a line dropped for its length, when it began as a V2 frame: FAILURE to its request
 * id, so that its client fails at once instead of waiting for an answer that never comes.
 */
export function tooLarge(head: string, max: number): string | undefined {
  const m = /^V2\s+\d+\s+[0-9a-f]+\s+([0-9a-f]{1,16})\s/.exec(head);
  if (!m) return undefined;
  return encodeFrame({
    reqid: m[1]!,
    code: 'FAILURE',
    payload: b64(`Request too large (over ${max} bytes)`),
  });
}
