// Formatting numbers and tables for the report, as aligned text (stdout) and as Markdown (--out).

export function fmt(x, digits = 1) {
  return x === undefined || x === null || Number.isNaN(x) ? 'n/a' : Number(x).toFixed(digits);
}

/** A table: the first `left` columns are text (left-aligned), the others numbers. */
export function table(header, rows, left = 3) {
  return { header, left, rows: rows.map((r) => r.map((c) => (c === undefined ? 'n/a' : String(c)))) };
}

export function asText({ header, rows, left }) {
  if (rows.length === 0) return '(nothing measured)';
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
  const line = (cells) => cells.map((c, i) => (i < left ? c.padEnd(widths[i]) : c.padStart(widths[i]))).join('  ');
  return [line(header), widths.map((w) => '-'.repeat(w)).join('  '), ...rows.map(line)].join('\n');
}

export function asMarkdown({ header, rows, left }) {
  if (rows.length === 0) return '(nothing measured)';
  const line = (cells) => `| ${cells.join(' | ')} |`;
  return [line(header), line(header.map((_, i) => (i < left ? '---' : '---:'))), ...rows.map(line)].join('\n');
}

/** The sum of `object`'s values at `keys` (missing ones count 0). */
export const sumOf = (object, keys) => keys.reduce((a, k) => a + (object[k] ?? 0), 0);
