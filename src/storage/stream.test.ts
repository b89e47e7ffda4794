import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { PassThrough, type Readable } from 'node:stream';
import { once } from 'node:events';
import { STREAM_MAGIC, frameStream, parseStream, type StreamHeader } from './stream.ts';

const HEADER: StreamHeader = {
  format: 'btrfs',
  type: 'filesystem',
  dataset: 'zones/a',
  snapshot: 'b',
  snapshotGuid: '1234567890123456789',
  snapshotCreation: 1795708920,
  from: { snapshot: 'a', guid: '42' },
  props: { compression: 'lz4', 'com.joyent:note': 'héllo wörld' },
  snapshotProps: { 'com.joyent:tag': 'x' },
  creation: 1795700000,
};

/** Frame `payload` (written in pieces of `writeSize`) and return the whole stream as bytes. */
async function frame(payload: Buffer, writeSize = 10_000): Promise<Buffer> {
  const out = new PassThrough();
  const parts: Buffer[] = [];
  out.on('data', (c: Buffer) => parts.push(c));
  const framer = frameStream(out, HEADER);
  for (let i = 0; i < payload.length; i += writeSize) {
    if (!framer.write(payload.subarray(i, i + writeSize))) await once(framer, 'drain');
  }
  await new Promise<void>((resolve, reject) =>
    framer.end((err?: Error | null) => (err ? reject(err) : resolve())),
  );
  out.end();
  await once(out, 'end');
  return Buffer.concat(parts);
}

/** A PassThrough fed `bytes` in chunks of `chunk` bytes, honouring backpressure. */
function deliver(bytes: Buffer, chunk: number): PassThrough {
  const pt = new PassThrough();
  void (async () => {
    for (let i = 0; i < bytes.length; i += chunk) {
      if (!pt.write(bytes.subarray(i, i + chunk))) await once(pt, 'drain');
    }
    pt.end();
  })();
  return pt;
}

async function drain(payload: Readable): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const c of payload) parts.push(c as Buffer);
  return Buffer.concat(parts);
}

/** Offset of the first payload byte (after magic, header and the first chunk length). */
const payloadStart = (framed: Buffer) => {
  const hlen = framed.readUInt32BE(STREAM_MAGIC.length);
  return STREAM_MAGIC.length + 4 + hlen + 4;
};

describe('send stream framing', () => {
  for (const chunk of [1, 7, 64 * 1024]) {
    for (const size of [0, 1, 4099, chunk === 1 ? 70_000 : 300_000]) {
      it(`round-trips ${size} payload bytes delivered in ${chunk}-byte chunks`, async () => {
        const payload = randomBytes(size);
        const framed = await frame(payload, 3000);
        const parsed = await parseStream(deliver(framed, chunk));
        assert.deepEqual(parsed.header, HEADER);
        const got = await drain(parsed.payload);
        assert.equal(got.length, size);
        assert.ok(got.equals(payload), 'payload differs');
        await parsed.verified;
      });
    }
  }

  it('does not end the payload early when the sender writes an empty buffer', async () => {
    const out = new PassThrough();
    const framer = frameStream(out, HEADER);
    framer.write(Buffer.from('hello '));
    framer.write(Buffer.alloc(0));
    framer.write(Buffer.from('world'));
    framer.end(() => out.end());
    const parsed = await parseStream(out);
    assert.equal((await drain(parsed.payload)).toString(), 'hello world');
    await parsed.verified;
  });

  it('rejects a truncated stream as incomplete and ends the payload', async () => {
    const payload = randomBytes(50_000);
    const framed = await frame(payload);
    const start = payloadStart(framed);
    // Cut inside the first chunk, at a chunk boundary, inside the trailer, and just before its last byte.
    for (const cut of [start + 100, start + 10_000, framed.length - 36, framed.length - 1]) {
      const parsed = await parseStream(deliver(framed.subarray(0, cut), 7));
      const got = await drain(parsed.payload);
      assert.ok(got.length <= payload.length);
      assert.ok(got.equals(payload.subarray(0, got.length)), `payload prefix differs (cut ${cut})`);
      await assert.rejects(parsed.verified, {
        code: 'EBADSTREAM',
        message: 'cannot receive: incomplete stream',
      });
    }
  });

  it('rejects a flipped payload byte with a checksum mismatch', async () => {
    const payload = randomBytes(20_000);
    const framed = await frame(payload);
    const at = payloadStart(framed) + 1234;
    framed[at] = framed[at]! ^ 0x01;
    const parsed = await parseStream(deliver(framed, 64 * 1024));
    const got = await drain(parsed.payload);
    assert.equal(got.length, payload.length);
    await assert.rejects(parsed.verified, {
      code: 'EBADSTREAM',
      message: 'cannot receive: checksum mismatch',
    });
  });

  it('rejects input without the magic number', async () => {
    const framed = await frame(randomBytes(100));
    const cases = [
      Buffer.concat([Buffer.from('X'), framed.subarray(1)]),
      Buffer.from('not a zfs stream at all, just some text\n'),
      STREAM_MAGIC.subarray(0, 5),
      Buffer.alloc(0),
    ];
    for (const bytes of cases) {
      await assert.rejects(parseStream(deliver(bytes, 7)), {
        code: 'EBADSTREAM',
        message: 'cannot receive: invalid stream (bad magic number)',
      });
    }
  });

  it('rejects a stream cut inside its header', async () => {
    const framed = await frame(randomBytes(10));
    const cut = STREAM_MAGIC.length + 4 + 20;
    await assert.rejects(parseStream(deliver(framed.subarray(0, cut), 7)), {
      message: 'cannot receive: invalid stream (truncated header)',
    });
  });
});
