import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { isMountPoint, parseMountinfo } from './mounts.ts';

// Shaped like /proc/self/mountinfo on a Zonix host: optional fields vary in number (none, one, two).
const MOUNTINFO = String.raw`22 1 8:2 / / rw,relatime shared:1 - ext4 /dev/sda2 rw,errors=remount-ro
25 22 0:23 / /proc rw,nosuid,nodev,noexec,relatime shared:12 - proc proc rw
40 22 0:35 / /tmp rw,nosuid,nodev - tmpfs tmpfs rw,size=1638400k
61 22 7:0 / /zones rw,relatime shared:30 master:4 - btrfs /dev/loop0 rw,space_cache=v2,subvolid=5,subvol=/
62 61 7:0 /root/my\040data /zones/my\040data rw,relatime shared:30 - btrfs /dev/loop0 rw,subvolid=257,subvol=/root/my\040data
63 22 0:40 /img\134x /mnt/a\011b ro,relatime - fuse.sshfs user@host:/srv\040x rw,user_id=0
`;

describe('parseMountinfo', () => {
  it('reads root, target, fstype and source of each line', () => {
    assert.deepEqual(parseMountinfo(MOUNTINFO), [
      { root: '/', target: '/', fstype: 'ext4', source: '/dev/sda2' },
      { root: '/', target: '/proc', fstype: 'proc', source: 'proc' },
      { root: '/', target: '/tmp', fstype: 'tmpfs', source: 'tmpfs' },
      { root: '/', target: '/zones', fstype: 'btrfs', source: '/dev/loop0' },
      { root: '/root/my data', target: '/zones/my data', fstype: 'btrfs', source: '/dev/loop0' },
      { root: '/img\\x', target: '/mnt/a\tb', fstype: 'fuse.sshfs', source: 'user@host:/srv x' },
    ]);
  });

  it('skips blank and malformed lines', () => {
    assert.deepEqual(parseMountinfo('\n\nnot a mountinfo line\n'), []);
  });

  it('isMountPoint matches decoded targets exactly', () => {
    const table = parseMountinfo(MOUNTINFO);
    assert.equal(isMountPoint('/zones/my data', table), true);
    assert.equal(isMountPoint('/zones/my\\040data', table), false);
    assert.equal(isMountPoint('/zones/my', table), false);
  });
});
