// ESLint rule: imports between subsystems (the folders of src/) go through the imported subsystem's
// index.ts, and only downwards: a subsystem may use those below it, never one above it or beside it.
// Tests inside a subsystem may import anything of their own subsystem, as its other files may.
import { dirname, relative, resolve, sep } from 'node:path';

/** Lower numbers are lower layers. Subsystems on one level may not import each other. */
export const LAYERS = {
  common: 0,
  platform: 1,
  storage: 2,
  net: 3,
  zones: 3,
  vm: 4,
  images: 5,
  metadata: 5,
  trace: 5,
  host: 6,
  cloud: 6.5,
  agent: 7,
  api: 7,
  cli: 8,
  web: 8,
};

export function subsystemOf(srcRoot, file) {
  const rel = relative(srcRoot, file);
  if (rel.startsWith('..')) return undefined;
  return rel.split(sep)[0];
}

/** What is wrong with `file` importing `spec`, or undefined. */
export function layerProblem(srcRoot, file, spec) {
  if (!spec.startsWith('.')) return undefined;
  const from = subsystemOf(srcRoot, file);
  if (from === undefined) return undefined;
  const target = resolve(dirname(file), spec);
  const to = subsystemOf(srcRoot, target);
  // Files of the same subsystem, and files directly in src/, are no subsystem's business.
  if (to === undefined || to === from || to.endsWith('.ts')) return undefined;
  const fromLayer = LAYERS[from];
  const toLayer = LAYERS[to];
  if (fromLayer === undefined)
    return `src/${from} has no layer: add it to LAYERS in scripts/eslint/layers.mjs`;
  if (toLayer === undefined) return `src/${to} has no layer: add it to LAYERS in scripts/eslint/layers.mjs`;
  if (toLayer >= fromLayer)
    return `${from} (layer ${fromLayer}) may not import ${to} (layer ${toLayer}): layers point down`;
  if (relative(srcRoot, target) !== `${to}${sep}index.ts`)
    return `import ${to} through its public surface ('${to}/index.ts'), not ${relative(srcRoot, target)}`;
  return undefined;
}

export default {
  rules: {
    layers: {
      meta: {
        type: 'problem',
        docs: { description: 'imports between subsystems go through index.ts and point down the layers' },
        schema: [
          { type: 'object', properties: { srcRoot: { type: 'string' } }, additionalProperties: false },
        ],
      },
      create(context) {
        const srcRoot = context.options[0]?.srcRoot ?? resolve(context.cwd, 'src');
        const check = (node, source) => {
          if (!source || source.type !== 'Literal' || typeof source.value !== 'string') return;
          const problem = layerProblem(srcRoot, context.filename, source.value);
          if (problem) context.report({ node: source, message: problem });
        };
        return {
          ImportDeclaration: (n) => check(n, n.source),
          ExportNamedDeclaration: (n) => check(n, n.source),
          ExportAllDeclaration: (n) => check(n, n.source),
          ImportExpression: (n) => check(n, n.source),
        };
      },
    },
  },
};
