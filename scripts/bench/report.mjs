// The whole report: the heading (machine, settings, baseline, failures) and the sections, as text
// for stdout or Markdown for --out, and the .md and .json files --out names.
import { resolve } from 'node:path';
import { ROOT } from './repo.mjs';
import { asMarkdown, asText, fmt } from './report-format.mjs';
import { sections } from './report-tables.mjs';
import { targets } from './report-targets.mjs';

/** The lines that open the report (the first three are also printed at the start). */
export function heading(data) {
  const m = data.machine;
  const lines = [
    `machine: ${m.nproc} CPUs (${m.cpu}), ${m.memoryGiB} GiB, node ${m.node}, Linux ${m.kernel}; ${m.date}; commit ${m.commit}`,
    `load average at start ${m.loadAtStart.join(' ')}, at end ${m.loadAtEnd?.join(' ') ?? 'n/a'} (a shared machine: other work shows in the numbers)`,
    `settings: ${data.settings.join('; ')}`,
  ];
  const b = data.baseline;
  lines.push(
    b?.produceMiBps
      ? `plain kafkajs on the same broker (${b.records} records of 1 MiB; ${b.how}): produce ${fmt(b.produceMiBps, 1)} MiB/s, consume ${fmt(b.consumeMiBps, 1)} MiB/s; Kafka ${fmt(b.kafkaCpuPerMiBProduced, 3)} CPU-s per MiB produced`
      : `plain kafkajs on the same broker: ${b?.error ? `FAILED: ${b.error}` : 'not run'}`,
  );
  for (const r of data.runs.filter((r) => r.error)) lines.push(`${r.mode} with ${r.counts['data-manager']} DM/PM FAILED: ${r.error}`);
  for (const r of data.runs)
    for (const o of r.ops.filter((o) => !o.ok))
      lines.push(`${r.mode} ${r.counts['data-manager']} DM/PM ${o.op} ${o.mib} MiB FAILED: ${o.error}`);
  return lines;
}

export function renderText(data) {
  const parts = [heading(data).join('\n')];
  for (const s of [...sections(data), targets(data)]) parts.push(`${s.title}${s.note ? `\n(${s.note})` : ''}\n${asText(s.table)}`);
  return parts.join('\n\n');
}

export function renderMarkdown(data) {
  const parts = [
    '# `pnpm bench`',
    heading(data)
      .map((l) => `- ${l}`)
      .join('\n'),
  ];
  for (const s of [...sections(data), targets(data)]) parts.push(`## ${s.title}\n\n${s.note ? `${s.note}\n\n` : ''}${asMarkdown(s.table)}`);
  return `${parts.join('\n\n')}\n`;
}

/** The Markdown and JSON files `--out` names (either extension, or none). */
export function outputFiles(out) {
  const path = resolve(ROOT, out);
  if (path.endsWith('.md')) return { md: path, json: `${path.slice(0, -3)}.json` };
  if (path.endsWith('.json')) return { md: `${path.slice(0, -5)}.md`, json: path };
  return { md: `${path}.md`, json: `${path}.json` };
}
