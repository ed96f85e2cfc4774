import { formatVersion, sdvLimit, type VersionName } from '@safe/chunks';
import type { Name } from '@safe/core';
import { CliError, EXIT, parseName, usage } from './cli-errors.js';
import type { SafeClient } from './client.js';
import { statLocalFile } from './files.js';
import type { SdvLimits } from './version-codecs.js';
import { findTip, findVersion, onlyTip, putVersionFile, tipsOfKey } from './versions.js';

/** `safe version …`: versions of a file under a KEY (any text), in the SDV named by KEY and your identity. */
export const VERSION_USAGE = `  version put KEY FILE [--parent ID] [--max-versions N] [--max-branches N]
                       store FILE as a new version of KEY under ID (default: KEY's one tip; a new
                       KEY starts with index 0, its limits from the flags); prints "INDEX ID" last
  version tips KEY     the tips of KEY, one "INDEX ID" a line, highest first
  version log KEY [ID] the branch from tip ID (default: the one tip) back to its root, "INDEX ID" lines
  version get KEY [ID] [-o OUT]
                       fetch the file of version ID (default: the one tip) to OUT, or to stdout
  version rm KEY ID    delete the branch from tip ID until its fork; prints the tips left
`;

export type VersionCommand = { readonly command: 'version'; readonly endpoint: string; readonly key: string } & (
  | { readonly sub: 'put'; readonly file: string; readonly parent: Name | undefined; readonly limits: SdvLimits }
  | { readonly sub: 'tips' }
  | { readonly sub: 'log'; readonly id: Name | undefined }
  | { readonly sub: 'get'; readonly id: Name | undefined; readonly output: string | undefined; readonly force: boolean }
  | { readonly sub: 'rm'; readonly id: Name }
);

export interface VersionFlags {
  readonly parent?: string | undefined;
  readonly 'max-versions'?: string | undefined;
  readonly 'max-branches'?: string | undefined;
  readonly output?: string | undefined;
  readonly force?: boolean | undefined;
}

function limit(which: 'maxVersions' | 'maxBranches', flag: string, text: string | undefined): number {
  if (text === undefined) return 0;
  if (!/^\d+$/.test(text.trim()) || Number(text) === 0)
    throw usage(`version put: ${flag} needs a whole number from 1, got ${JSON.stringify(text)}`);
  try {
    return sdvLimit(which, Number(text));
  } catch (error) {
    throw new CliError(EXIT.usage, `version put: ${flag}: ${(error as Error).message}`);
  }
}

/** Parses `version SUB KEY …`; validates what can be checked without the network. */
export function parseVersionCommand(args: readonly string[], flags: VersionFlags, endpoint: string): VersionCommand {
  const [sub, key, ...rest] = args;
  if (sub === undefined) throw usage('version: missing put, tips, log, get or rm');
  if (!['put', 'tips', 'log', 'get', 'rm'].includes(sub)) throw usage(`version: unknown command ${JSON.stringify(sub)}`);
  if (key === undefined || key === '') throw usage(`version ${sub}: missing KEY`);
  const only = (allowed: readonly (keyof VersionFlags)[]) => {
    for (const flag of ['parent', 'max-versions', 'max-branches', 'output', 'force'] as const) {
      if (flags[flag] !== undefined && !allowed.includes(flag))
        throw usage(`version ${sub}: no ${flag === 'output' ? '-o' : `--${flag}`} here`);
    }
  };
  const positional = (min: number, max: number, what: string) => {
    if (rest.length < min) throw usage(`version ${sub}: missing ${what}`);
    if (rest.length > max) throw usage(`version ${sub}: unexpected argument ${JSON.stringify(rest[max])}`);
  };
  const base = { command: 'version', endpoint, key } as const;
  switch (sub) {
    case 'put': {
      only(['parent', 'max-versions', 'max-branches']);
      positional(1, 1, 'FILE');
      const parent = flags.parent === undefined ? undefined : parseName(flags.parent);
      const limits = {
        maxVersions: limit('maxVersions', '--max-versions', flags['max-versions']),
        maxBranches: limit('maxBranches', '--max-branches', flags['max-branches']),
      };
      return { ...base, sub, file: rest[0] as string, parent, limits };
    }
    case 'tips':
      only([]);
      positional(0, 0, '');
      return { ...base, sub };
    case 'log':
      only([]);
      positional(0, 1, 'ID');
      return { ...base, sub, id: rest[0] === undefined ? undefined : parseName(rest[0]) };
    case 'get': {
      only(['output', 'force']);
      positional(0, 1, 'ID');
      if (flags.output === '') throw usage('version get: -o needs a path');
      const id = rest[0] === undefined ? undefined : parseName(rest[0]);
      return { ...base, sub, id, output: flags.output, force: flags.force ?? false };
    }
    default:
      only([]);
      positional(1, 1, 'ID');
      return { ...base, sub: 'rm', id: parseName(rest[0] as string) };
  }
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
