import type { CliIo } from './cli-client.js';

export const MIB = 1024 * 1024;

export function formatBytes(n: number): string {
  if (n < 1024) return `${n} B`;
  const units = ['KiB', 'MiB', 'GiB', 'TiB'];
  let value = n / 1024;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit++;
  }
  return `${value.toFixed(1)} ${units[unit]}`;
}

/** A progress bar on stderr, drawn with \r; only when stderr is a terminal. */
export function progressBar(io: CliIo, label: string): { update: (done: number, total: number | undefined) => void; clear: () => void } {
  if (!io.stderr.isTTY) return { update: () => {}, clear: () => {} };
  let last = 0;
  let drawn = false;
  const draw = (done: number, total: number | undefined) => {
    const width = 30;
    const fraction = total ? Math.min(1, done / total) : 0;
    const filled = Math.round(fraction * width);
    const bar =
      total === undefined ? '' : `[${'#'.repeat(filled)}${'.'.repeat(width - filled)}] ${(fraction * 100).toFixed(0).padStart(3)}%  `;
    io.stderr.write(`\r\x1b[K${label} ${bar}${formatBytes(done)}${total === undefined ? '' : ` / ${formatBytes(total)}`}`);
    drawn = true;
  };
  return {
    update(done, total) {
      const now = Date.now();
      if (now - last < 100 && done !== total) return;
      last = now;
      draw(done, total);
    },
    clear() {
      if (drawn) io.stderr.write('\r\x1b[K');
    },
  };
}
