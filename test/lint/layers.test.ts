/** The layering rule (scripts/eslint/layers.mjs): what it allows and what it refuses. */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { layerProblem } from '../../scripts/eslint/layers.mjs';

const SRC = '/x/src';
const problem = (file: string, spec: string) => layerProblem(SRC, join(SRC, file), spec);

describe('layers lint rule', () => {
  it('allows a subsystem its own files, and lower ones through their index', () => {
    assert.equal(problem('vm/core.ts', './store.ts'), undefined);
    assert.equal(problem('vm/brands/zone.ts', '../zone.ts'), undefined);
    assert.equal(problem('vm/core.ts', '../storage/index.ts'), undefined);
    assert.equal(problem('cli/vmadm/list.ts', '../../vm/index.ts'), undefined);
    assert.equal(problem('host/host.ts', 'node:fs'), undefined);
  });

  it('refuses reaching into another subsystem past its index', () => {
    assert.match(
      problem('vm/core.ts', '../storage/meta.ts')!,
      /through its public surface \('storage\/index.ts'\)/,
    );
    assert.match(problem('cli/vmadm/get.ts', '../../vm/view.ts')!, /public surface/);
  });

  it('refuses imports that point up or sideways', () => {
    assert.match(
      problem('storage/pool.ts', '../vm/index.ts')!,
      /storage \(layer 2\) may not import vm \(layer 4\)/,
    );
    assert.match(problem('zones/runtime.ts', '../host/index.ts')!, /layers point down/);
    assert.match(problem('images/store.ts', '../metadata/index.ts')!, /layers point down/);
  });

  it('names a subsystem that has no layer yet', () => {
    assert.match(problem('newthing/a.ts', '../common/index.ts')!, /src\/newthing has no layer/);
  });
});
