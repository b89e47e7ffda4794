import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Readable } from 'node:stream';
import { crc32 } from 'node:zlib';
import { STREAM_MAGIC } from '../storage/index.ts';
import { BUNDLE_MAGIC, BundleReader, editStreamHeader } from './transfer.ts';

const u32 = (n: number) => {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(n >>> 0);
  return b;
};

/** A chunk as the format says: header, frames, end frame, CRC-32 (`crc` overrides it). */
function chunk(header: object, frames: Buffer[], crc?: number): Buffer {
  const h = Buffer.from(JSON.stringify(header));
  const sum = frames.reduce((c, f) => crc32(f, c), 0);
  return Buffer.concat([
    u32(h.length),
    h,
    ...frames.flatMap((f) => [u32(f.length), f]),
    u32(0),
    u32(crc ?? sum),
  ]);
}

/** The bytes arriving one at a time: no read may assume more than it asked for. */
const trickle = (buf: Buffer) => Readable.from([...buf].map((b) => Buffer.from([b])));

describe('VM bundle reader', () => {
  it('reads chunk headers and bodies, however the bytes arrive', async () => {
    const json = Buffer.from('{"uuid":"x"}');
    const end = Buffer.from(JSON.stringify({ type: 'end', datasets: 0 }));
    const bundle = Buffer.concat([
      BUNDLE_MAGIC,
      chunk({ type: 'json' }, [json.subarray(0, 5), json.subarray(5)]),
      u32(end.length),
      end,
    ]);
    const r = new BundleReader(trickle(bundle));
    await r.magic();
    assert.deepEqual(await r.header(), { type: 'json' });
    assert.equal((await r.body(1 << 20)).toString(), '{"uuid":"x"}');
    assert.deepEqual(await r.header(), { type: 'end', datasets: 0 });
  });

  it('refuses other streams, damaged chunks and early ends', async () => {
    await assert.rejects(new BundleReader(Readable.from([Buffer.from('{"uuid":1}')])).magic(), {
      message: 'unable to receive VM: not a VM stream (bad magic number)',
    });
    const body = [Buffer.from('abc')];
    const bad = new BundleReader(
      Readable.from([Buffer.concat([BUNDLE_MAGIC, chunk({ type: 'json' }, body, 7)])]),
    );
    await bad.magic();
    await bad.header();
    await assert.rejects(bad.body(100), { message: 'unable to receive VM: checksum mismatch', exitCode: 1 });
    const whole = Buffer.concat([BUNDLE_MAGIC, chunk({ type: 'json' }, body)]);
    const cut = new BundleReader(Readable.from([whole.subarray(0, whole.length - 3)]));
    await cut.magic();
    await cut.header();
    await assert.rejects(cut.body(100), { message: 'unable to receive VM: incomplete stream' });
  });

  it("rewrites a pool stream header's properties and keeps the rest", () => {
    const h = Buffer.from(JSON.stringify({ dataset: 'p/x', props: { 'com.zonix:vm': 'ready', quota: '1' } }));
    const rest = Buffer.from('payload');
    const head = Buffer.concat([STREAM_MAGIC, u32(h.length), h, rest]);
    const out = editStreamHeader(head, (props) => {
      props['com.zonix:vm'] = 'creating';
    });
    const m = STREAM_MAGIC.length;
    const len = out.readUInt32BE(m);
    assert.deepEqual(JSON.parse(out.subarray(m + 4, m + 4 + len).toString()), {
      dataset: 'p/x',
      props: { 'com.zonix:vm': 'creating', quota: '1' },
    });
    assert.equal(out.subarray(m + 4 + len).toString(), 'payload');
    const other = Buffer.from('not a pool stream at all');
    assert.equal(
      editStreamHeader(other, () => undefined),
      other,
    );
  });
});
