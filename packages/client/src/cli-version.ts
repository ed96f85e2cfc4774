import { formatVersion, sdvLimit, type VersionName } from '@safe/chunks';
import type { Name } from '@safe/core';
import type { Command as Program } from 'commander';
import { CliError, EXIT, parseName, usage } from './cli-errors.js';
import type { SafeClient } from './client.js';
import { statLocalFile } from './files.js';
import type { SdvLimits } from './version-codecs.js';
import { findTip, findVersion, onlyTip, putVersionFile, tipsOfKey } from './versions.js';

export type VersionCommand = { readonly command: 'version'; readonly endpoint: string; readonly key: string } & (
  | { readonly sub: 'put'; readonly file: string; readonly parent: Name | undefined; readonly limits: SdvLimits }
  | { readonly sub: 'tips' }
  | { readonly sub: 'log'; readonly id: Name | undefined }
  | { readonly sub: 'get'; readonly id: Name | undefined; readonly output: string | undefined; readonly force: boolean }
  | { readonly sub: 'rm'; readonly id: Name }
);

function limit(which: 'maxVersions' | 'maxBranches', flag: string, text: string | undefined): number {
  if (text === undefined) return 0;
  if (!/^\d+$/.test(text.trim()) || Number(text) === 0)
    throw usage(`version put: ${flag} needs a whole number from 1, got ${JSON.stringify(text)}`, 'version put');
  try {
    return sdvLimit(which, Number(text));
  } catch (error) {
    throw new CliError(EXIT.usage, `version put: ${flag}: ${(error as Error).message}`);
  }
}

type VersionPutFlags = { parent?: string; maxVersions?: string; maxBranches?: string };

/** `safe version …`: versions of a file under a KEY (any text), in the SDV named by KEY and your identity. */
export function addVersionCommands(parent: Program, endpoint: () => string, emit: (command: VersionCommand) => void): void {
  const version = parent
    .command('version')
    .usage('SUB KEY …')
    .description('versions of a file under a KEY (any text), in the SDV named by KEY and your identity: put, tips, log, get, rm');
  const base = (sub: string, key: string) => {
    if (key === '') throw usage(`version ${sub}: missing KEY`, `version ${sub}`);
    return { command: 'version', endpoint: endpoint(), key } as const;
  };
  const id = (text: string | undefined) => (text === undefined ? undefined : parseName(text));
  version
    .command('put')
    .usage('KEY FILE [--parent ID] [--max-versions N] [--max-branches N]')
    .description(
      'store FILE as a new version of KEY under ID (default: KEY\'s one tip; a new KEY starts with index 0, its limits from the flags); prints "INDEX ID" last',
    )
    .argument('<KEY>')
    .argument('<FILE>')
    .option('--parent <ID>', 'the version the new one follows')
    .option('--max-versions <N>', 'for a new KEY: versions kept, oldest out (default 100, 1..256)')
    .option('--max-branches <N>', 'for a new KEY: tips allowed at once (default 10, 1..32)')
    .action((key: string, file: string, flags: VersionPutFlags) => {
      const limits = {
        maxVersions: limit('maxVersions', '--max-versions', flags.maxVersions),
        maxBranches: limit('maxBranches', '--max-branches', flags.maxBranches),
      };
      emit({ ...base('put', key), sub: 'put', file, parent: id(flags.parent), limits });
    });
  version
    .command('tips')
    .usage('KEY')
    .description('the tips of KEY, one "INDEX ID" a line, highest first')
    .argument('<KEY>')
    .action((key: string) => emit({ ...base('tips', key), sub: 'tips' }));
  version
    .command('log')
    .usage('KEY [ID]')
    .description('the branch from tip ID (default: the one tip) back to its root, "INDEX ID" lines')
    .argument('<KEY>')
    .argument('[ID]')
    .action((key: string, tip: string | undefined) => emit({ ...base('log', key), sub: 'log', id: id(tip) }));
  version
    .command('get')
    .usage('KEY [ID] [-o OUT] [-f]')
    .description('fetch the file of version ID (default: the one tip) to OUT, or to stdout')
    .argument('<KEY>')
    .argument('[ID]')
    .option('-o, --output <OUT>', 'where to write the file; "-" is stdout')
    .option('-f, --force', 'replace OUT if it exists (a regular file only)')
    .action((key: string, tip: string | undefined, flags: { output?: string; force?: boolean }) => {
      if (flags.output === '') throw usage('version get: -o needs a path', 'version get');
      emit({ ...base('get', key), sub: 'get', id: id(tip), output: flags.output, force: flags.force ?? false });
    });
  version
    .command('rm')
    .usage('KEY ID')
    .description('delete the branch from tip ID until its fork; prints the tips left')
    .argument('<KEY>')
    .argument('<ID>')
    .action((key: string, tip: string) => emit({ ...base('rm', key), sub: 'rm', id: parseName(tip) }));
}

const lines = (versions: readonly VersionName[]) => versions.map((v) => `${formatVersion(v)}\n`).join('');

/** The file name `version get` fetches: version ID of KEY, or KEY's one tip. */
export async function versionToGet(client: SafeClient, command: Extract<VersionCommand, { sub: 'get' }>): Promise<Name> {
  if (command.id !== undefined) return (await findVersion(client, command.key, command.id)).id;
  return onlyTip(command.key, await tipsOfKey(client, command.key), 'an ID').id;
}

/** Runs every `version` command but get (whose file goes through the CLI's own get); returns what to print. */
export async function runVersion(client: SafeClient, command: Exclude<VersionCommand, { sub: 'get' }>): Promise<string> {
  switch (command.sub) {
    case 'put': {
      try {
        await statLocalFile(command.file);
      } catch (error) {
        throw new CliError(EXIT.usage, error instanceof Error ? error.message : String(error));
      }
      return lines([await putVersionFile(client, command.key, command.file, command.parent, command.limits)]);
    }
    case 'tips':
      return lines(await tipsOfKey(client, command.key));
    case 'log': {
      const tip = await findTip(client, command.key, command.id);
      return lines(await client.versionBranch(client.sdvNameOf(command.key), tip));
    }
    case 'rm':
      return lines(await client.deleteBranch(command.key, await findTip(client, command.key, command.id)));
  }
}
