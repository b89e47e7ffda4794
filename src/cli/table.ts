/**
 * Columns as zfs and zpool print them: padded with two spaces between, numbers right-aligned; or
 * tab-separated without a header for scripts (-H).
 * @module
 */

export interface Column {
  header: string;
  right?: boolean;
}

export function formatTable(cols: Column[], rows: string[][], opts: { scripted?: boolean } = {}): string {
  if (opts.scripted) return rows.map((r) => r.join('\t') + '\n').join('');
  const widths = cols.map((c, i) => Math.max(c.header.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: string[]) =>
    cells
      .map((v, i) => {
        const last = i === cells.length - 1;
        if (cols[i]?.right) return v.padStart(widths[i]!);
        return last ? v : v.padEnd(widths[i]!);
      })
      .join('  ')
      .trimEnd() + '\n';
  return line(cols.map((c) => c.header)) + rows.map(line).join('');
}
