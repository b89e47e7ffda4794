import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createPayloadJsonSchema, isFilterKey, listFieldFor, listValue, type JsonSchema } from './index.ts';

describe('listFieldFor', () => {
  it('answers listable properties and the dynamic fields', () => {
    assert.deepEqual(listFieldFor('ram'), { header: 'RAM', width: 7 });
    assert.deepEqual(listFieldFor('nics.0.ip'), { header: 'NICS.0.IP', width: 20 });
    assert.deepEqual(listFieldFor('disks.1.size'), { header: 'DISKS.1.SIZE', width: 20 });
    assert.deepEqual(listFieldFor('tags.role'), { header: 'TAGS.ROLE', width: 20 });
    assert.equal(listFieldFor('resolvers'), undefined);
    assert.equal(listFieldFor('nics.0'), undefined);
    assert.equal(listFieldFor('bogus'), undefined);
  });
});

describe('isFilterKey', () => {
  it('accepts what vmadm list/lookup accept', () => {
    for (const key of [
      'uuid',
      'nics.*.nic_tag',
      'nics.0.ip',
      'disks.*.image_uuid',
      'tags.role',
      'customer_metadata.x',
    ]) {
      assert.ok(isFilterKey(key), key);
    }
    for (const key of ['nics.*.ips', 'disks.*.compression', 'routes.x', 'bogus', 'resolvers']) {
      assert.ok(!isFilterKey(key), key);
    }
  });
});

describe('listValue', () => {
  it('gives the fake type and ram fields and flattened paths', () => {
    const os = {
      brand: 'joyent',
      max_physical_memory: 512,
      nics: [{ ip: '10.0.0.1' }],
      tags: { role: 'db' },
    };
    assert.equal(listValue(os, 'type'), 'OS');
    assert.equal(listValue(os, 'ram'), 512);
    assert.equal(listValue(os, 'nics.0.ip'), '10.0.0.1');
    assert.equal(listValue(os, 'tags.role'), 'db');
    assert.equal(listValue(os, 'nics.1.ip'), undefined);
    const bhyve = { brand: 'bhyve', ram: 1024, max_physical_memory: 2304 };
    assert.equal(listValue(bhyve, 'type'), 'BHYV');
    assert.equal(listValue(bhyve, 'ram'), 1024);
  });
});

const obj = (v: unknown): JsonSchema => {
  assert.ok(typeof v === 'object' && v !== null && !Array.isArray(v));
  return v as JsonSchema;
};

describe('createPayloadJsonSchema', () => {
  it('describes one brand from the table', () => {
    const s = createPayloadJsonSchema('lx');
    assert.equal(s.$schema, 'https://json-schema.org/draft/2020-12/schema');
    assert.deepEqual(s.required, ['brand', 'image_uuid', 'kernel_version']);
    const props = obj(s.properties);
    assert.deepEqual(obj(props.max_swap), {
      type: 'integer',
      minimum: 256,
      description:
        'Swap cap in MiB; at least max_physical_memory and 256 (default: max(max_physical_memory, 256))',
      'x-update': 'live',
    });
    assert.equal(props.vcpus, undefined);
    assert.equal(props.add_nics, undefined);
    const nic = obj(obj(obj(props.nics).items).properties);
    assert.deepEqual(obj(nic.mtu), {
      type: 'integer',
      minimum: 576,
      maximum: 9000,
      description: 'MTU; defaults to the link MTU',
    });
    assert.equal(nic.model, undefined);
    assert.equal(obj(props.quota).default, 10);
  });

  it('describes every brand with per-brand rules', () => {
    const s = createPayloadJsonSchema();
    const props = obj(s.properties);
    assert.deepEqual(obj(props.vcpus)['x-brands'], ['kvm', 'bhyve']);
    assert.equal(obj(props.quota).default, undefined);
    const rules = s.allOf as JsonSchema[];
    const kvm = rules.find((r) => JSON.stringify(r.if).includes('"kvm"'));
    assert.ok(kvm);
    const then = obj(kvm.then);
    assert.deepEqual(then.required, ['brand']);
    const names = obj(then.propertyNames).enum as string[];
    assert.ok(names.includes('disks') && !names.includes('tmpfs'));
  });
});
