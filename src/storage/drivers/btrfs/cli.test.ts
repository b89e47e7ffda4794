import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { parseDeviceStats, parseQgroupShow, parseSubvolumeList, parseSuperblock } from './cli.ts';

// Recorded from btrfs-progs 6.2.
const SUBVOLUME_LIST = `ID 256 gen 9 top level 5 path root
ID 257 gen 9 top level 256 path root/a
ID 258 gen 12 top level 257 path root/a/.zfs-snap/s1
ID 260 gen 14 top level 256 path root/with space
`;

const QGROUP_SHOW = `Qgroupid    Referenced    Exclusive  Max referenced  Max exclusive   Path 
--------    ----------    ---------  --------------  -------------   ---- 
0/5              16384        16384            none           none   <toplevel>
0/256            16384        16384            none           none   root
0/257                0            0            none           none   root/a
0/258         10502144      1064960      1073741824           none   root/b
1/100         10518528     10518528            none           none   <0 member qgroups>
`;

const DEVICE_STATS = `[/dev/loop0].write_io_errs    0
[/dev/loop0].read_io_errs     0
[/dev/loop0].flush_io_errs    0
[/dev/loop0].corruption_errs  0
[/dev/loop0].generation_errs  0
[/dev/loop1].write_io_errs    3
[/dev/loop1].read_io_errs     5
[/dev/loop1].flush_io_errs    2
[/dev/loop1].corruption_errs  7
[/dev/loop1].generation_errs  1
`;

describe('btrfs output parsers', () => {
  it('parseSubvolumeList maps each path to its subvolume id', () => {
    assert.deepEqual(
      parseSubvolumeList(SUBVOLUME_LIST),
      new Map([
        ['root', 256],
        ['root/a', 257],
        ['root/a/.zfs-snap/s1', 258],
        ['root/with space', 260],
      ]),
    );
  });

  it('parseSubvolumeList strips <FS_TREE>/ (list -a) and skips cgen and otime columns', () => {
    const text = [
      'ID 256 gen 9 top level 5 path <FS_TREE>/root',
      'ID 257 gen 10 cgen 10 top level 256 otime 2026-11-26 16:02:01 path root/a',
      '',
      'garbage line',
    ].join('\n');
    assert.deepEqual(
      parseSubvolumeList(text),
      new Map([
        ['root', 256],
        ['root/a', 257],
      ]),
    );
  });

  it('parseQgroupShow reads level-0 qgroups and skips header and higher levels', () => {
    assert.deepEqual(
      parseQgroupShow(QGROUP_SHOW),
      new Map([
        [5, { rfer: 16384, excl: 16384 }],
        [256, { rfer: 16384, excl: 16384 }],
        [257, { rfer: 0, excl: 0 }],
        [258, { rfer: 10502144, excl: 1064960 }],
      ]),
    );
  });

  it('parseDeviceStats folds the five counters into read, write and checksum errors', () => {
    assert.deepEqual(
      parseDeviceStats(DEVICE_STATS),
      new Map([
        ['/dev/loop0', { read: 0, write: 0, cksum: 0 }],
        ['/dev/loop1', { read: 5, write: 5, cksum: 8 }],
      ]),
    );
  });
});

describe('parseSuperblock', () => {
  const FSID = Buffer.from('0102030405060708090a0b0c0d0e0f10', 'hex');
  const superblock = (label: string | Buffer, magic = '_BHRfS_M', size = 4096) => {
    const sb = Buffer.alloc(size);
    FSID.copy(sb, 0x20);
    sb.write(magic, 0x40, 'latin1');
    (typeof label === 'string' ? Buffer.from(label) : label).copy(sb, 0x12b);
    return sb;
  };

  it('reads the label and the first half of the fsid', () => {
    assert.deepEqual(parseSuperblock(superblock('zones')), { label: 'zones', id: '72623859790382856' });
    assert.equal(parseSuperblock(superblock('zönes'))?.label, 'zönes');
  });

  it('reads a label that fills all 256 bytes', () => {
    const label = 'L'.repeat(256);
    assert.equal(parseSuperblock(superblock(label, '_BHRfS_M', 0x12b + 256))?.label, label);
  });

  it('returns undefined without the magic, a label, or enough bytes', () => {
    assert.equal(parseSuperblock(superblock('zones', '_BHRfS_X')), undefined);
    assert.equal(parseSuperblock(superblock('zones', '\0\0\0\0\0\0\0\0')), undefined);
    assert.equal(parseSuperblock(superblock('')), undefined);
    assert.equal(parseSuperblock(superblock('zones').subarray(0, 0x12b + 255)), undefined);
    assert.equal(parseSuperblock(Buffer.alloc(0)), undefined);
  });
});
