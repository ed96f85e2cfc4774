import type { Name } from '@safe/core';
import { type CommanderError, type OutputConfiguration, Command as Program } from 'commander';
import { parseName, usage } from './cli-errors.js';
import { addMsgCommands, type MsgCommand } from './cli-msg.js';
import { addVersionCommands, type VersionCommand } from './cli-version.js';
import { parseTraceId } from './jaeger.js';

export const DEFAULT_ENDPOINT = '127.0.0.1:50051';
/** Jaeger's query API where `pnpm stack up --jaeger` starts it. */
export const DEFAULT_JAEGER_URL = 'http://127.0.0.1:16686';

export type Command =
  /** `--help`, `-h` or `help [COMMAND]`: the help asked for, to print. */
  | { readonly command: 'help'; readonly text: string }
  | { readonly command: 'put'; readonly endpoint: string; readonly file: string }
  | {
      readonly command: 'get';
      readonly endpoint: string;
      readonly name: Name;
      readonly output: string | undefined;
      readonly force: boolean;
    }
  | { readonly command: 'rm'; readonly endpoint: string; readonly name: Name }
  | { readonly command: 'account'; readonly endpoint: string }
  | { readonly command: 'info'; readonly endpoint: string }
  | { readonly command: 'trace'; readonly id: string; readonly jaeger: string }
  | VersionCommand
  | MsgCommand;

const ENVIRONMENT = `
environment:
  SAFE_ENDPOINT        the Gateway, HOST:PORT
  SAFE_HOME            where your identity lives (default ~/.safe); identity.key is made on first use
  OTEL_EXPORTER_OTLP_ENDPOINT  where the command's spans go (else SAFE_JAEGER_OTLP_ENDPOINT, as
                       \`pnpm stack env\` prints it); set, every command is traced, --trace or not
  SAFE_JAEGER_URL      Jaeger's query API (default for \`safe trace\`: ${DEFAULT_JAEGER_URL});
                       --trace also prints the trace's URL there

exit codes:
  0  success
  1  other error
  2  usage error or invalid argument (bad NAME, no such local file, bad endpoint)
  3  not found on the network
  4  network unavailable (cannot reach it, no agreed answer, timed out)
  5  out of space
  6  corrupt data (a fetched chunk does not match its name)
  7  over a limit of a versioned KEY (its maximum of branches)
  130  interrupted (Ctrl-C); an interrupted put first gives back what it stored, so
       putting the file again is not charged twice (Ctrl-C twice: quit at once)
`;

/** HOST:PORT (HOST may be [IPv6]); throws a usage CliError otherwise. */
export function parseEndpoint(text: string): string {
  const match = /^(\[[0-9a-fA-F:.]+\]|[A-Za-z0-9._-]+):(\d{1,5})$/.exec(text.trim());
  const port = Number(match?.[2]);
  if (match === null || port < 1 || port > 65535) throw usage(`invalid endpoint ${JSON.stringify(text)}: expected HOST:PORT`);
  return text.trim();
}

/** Parses the command line; validates everything that can be checked without the network. */
export function parseCommand(argv: readonly string[], env: NodeJS.ProcessEnv = {}): Command {
  return parseCommandLine(argv, env).command;
}

/** The command and the options every command takes (--trace). */
export function parseCommandLine(argv: readonly string[], env: NodeJS.ProcessEnv = {}): { command: Command; trace: boolean } {
  const help: string[] = [];
  const errorHelp: string[] = [];
  let parsed: Command | undefined;
  const output = {
    writeOut: (text: string) => help.push(text),
    writeErr: (text: string) => errorHelp.push(text),
    outputError: () => {},
    getOutHelpWidth: () => 100,
    getErrHelpWidth: () => 100,
    getOutHasColors: () => false,
    getErrHasColors: () => false,
  };
  const root = program(env, output, (command) => {
    parsed = command;
  });
  for (const command of [root, ...descendants(root)]) {
    command.exitOverride((error) => {
      // Help went to writeOut when asked for; a command of commands given none writes it to writeErr.
      if (error.code === 'commander.helpDisplayed' || (error.code === 'commander.help' && errorHelp.length === 0)) throw HELP_SHOWN;
      throw commanderFailure(error, command, root);
    });
  }
  try {
    root.parse([...argv], { from: 'user' });
  } catch (error) {
    if (error !== HELP_SHOWN) throw error;
    return { command: { command: 'help', text: help.join('') }, trace: false };
  }
  if (parsed === undefined) throw usage('missing command');
  return { command: parsed, trace: root.opts<{ trace?: boolean }>().trace ?? false };
}

/** Thrown through commander once it has written the help asked for. */
class HelpShown extends Error {}
const HELP_SHOWN = new HelpShown('help shown');

/** The `safe` command line: every command's arguments, options and help; each action hands its Command to `emit`. */
function program(env: NodeJS.ProcessEnv, output: OutputConfiguration, emit: (command: Command) => void): Program {
  // Set before any subcommand is made: each takes its settings from its parent as it is made.
  const root = new Program('safe')
    .configureOutput(output)
    .usage('[--endpoint HOST:PORT] [--trace] COMMAND')
    .description('Stores and fetches files on a SAFE network through its gRPC Gateway.')
    .option('--endpoint <HOST:PORT>', `the Gateway (default: $SAFE_ENDPOINT, else ${DEFAULT_ENDPOINT})`)
    .option('--trace', 'run the command as one trace and print its id on stderr ("trace: ID")')
    .helpOption('-h, --help', 'show this help')
    .helpCommand('help [COMMAND]', "show COMMAND's help")
    .configureHelp({
      subcommandTerm,
      showGlobalOptions: true,
      styleTitle: (title) => title.toLowerCase(), // as the sections below
    })
    .addHelpText('after', ENVIRONMENT);
  const endpoint = () => parseEndpoint(root.opts<{ endpoint?: string }>().endpoint ?? (env.SAFE_ENDPOINT || DEFAULT_ENDPOINT));

  root
    .command('put')
    .usage('FILE')
    .description("store FILE; prints the file's name (128 hex characters) as the last line")
    .argument('<FILE>')
    .action((file: string) => emit({ command: 'put', endpoint: endpoint(), file }));
  root
    .command('get')
    .usage('NAME [-o OUT] [-f]')
    .description('fetch the file NAME to OUT (written whole or not at all), or to stdout')
    .argument('<NAME>')
    .option('-o, --output <OUT>', 'where to write the file; "-" is stdout')
    .option('-f, --force', 'replace OUT if it exists (a regular file only); without it an existing OUT is kept')
    .action((name: string, options: { output?: string; force?: boolean }) => {
      if (options.output === '') throw usage('get: -o needs a path', 'get');
      emit({ command: 'get', endpoint: endpoint(), name: parseName(name), output: options.output, force: options.force ?? false });
    });
  root
    .command('rm')
    .usage('NAME')
    .description(
      "remove the file NAME (its chunks and data map) from your account; exits 3 if your account holds none of it (another account's file)",
    )
    .argument('<NAME>')
    .action((name: string) => emit({ command: 'rm', endpoint: endpoint(), name: parseName(name) }));
  root
    .command('account')
    .description('show your account: stored, available, registered vaults, chunks')
    .action(() => emit({ command: 'account', endpoint: endpoint() }));
  root
    .command('info')
    .description('show the network: close group size, chunk size, personas')
    .action(() => emit({ command: 'info', endpoint: endpoint() }));
  root
    .command('trace')
    .usage('ID')
    .description('print trace ID (as --trace prints it) from Jaeger as a tree: service, operation, duration of each span')
    .argument('<ID>')
    .action((id: string) => {
      let traceId: string;
      try {
        traceId = parseTraceId(id);
      } catch (error) {
        throw usage((error as Error).message, 'trace');
      }
      emit({ command: 'trace', id: traceId, jaeger: env.SAFE_JAEGER_URL || DEFAULT_JAEGER_URL });
    });
  addVersionCommands(root, endpoint, emit);
  addMsgCommands(root, endpoint, emit);
  return root;
}

/** "get NAME [-o OUT] [-f]" in a list of commands; a long one without its options, which its own help lists. */
function subcommandTerm(command: Program): string {
  const term = `${command.name()} ${command.usage().replace(/^\[options\]/, '')}`.trimEnd();
  return term.length <= 40 ? term : term.replace(/ \[-[^\]]*\]/g, '');
}

function descendants(command: Program): Program[] {
  return command.commands.flatMap((sub) => [sub, ...descendants(sub)]);
}

/** "version tips" for that command; "" for the program itself. */
function pathOf(command: Program): string {
  const names: string[] = [];
  for (let at: Program | null = command; at?.parent; at = at.parent) names.unshift(at.name());
  return names.join(' ');
}

/** A parse failure commander reports, in the CLI's words: "COMMAND: what is wrong" (see COMMAND --help). */
function commanderFailure(error: CommanderError, command: Program, root: Program): Error {
  const path = pathOf(command);
  const at = path === '' ? '' : `${path}: `;
  const said = error.message.replace(/^error: /, '').replace(/\s+/g, ' ');
  const suggestion = /\s*(\(Did you mean .*\))$/.exec(said)?.[1] ?? '';
  switch (error.code) {
    case 'commander.help': {
      // `help NAME` for no command NAME, or a command of commands given none.
      const asked = command.args[0] === 'help' ? command.args[1] : undefined;
      if (asked !== undefined) return usage(`${at}unknown command ${JSON.stringify(asked)}`, path);
      const subs = command.commands.map((sub) => sub.name()).filter((name) => name !== 'help');
      const list = subs.length > 1 ? `${subs.slice(0, -1).join(', ')} or ${subs.at(-1)}` : subs.join('');
      return usage(path === '' ? 'missing command' : `${at}missing ${list}`, path);
    }
    case 'commander.unknownCommand':
      return usage(`${at}unknown command ${JSON.stringify(command.args[0])}${suggestion && ` ${suggestion}`}`, path);
    case 'commander.missingArgument':
      return usage(`${at}missing ${/'(.*)'/.exec(said)?.[1] ?? 'an argument'}`, path);
    case 'commander.excessArguments':
      return usage(`${at}unexpected argument ${JSON.stringify(command.args[command.registeredArguments.length])}`, path);
    case 'commander.unknownOption': {
      const flag = (/'(.*)'/.exec(said)?.[1] ?? '').replace(/=.*/, '');
      const owners = descendants(root).filter((other) => other.options.some((option) => option.short === flag || option.long === flag));
      if (owners.length === 0) return usage(`${at}${said}`, path);
      return usage(`${at}no ${flag} here (${flag} is an option of ${owners.map(pathOf).join(' or ')})`, path);
    }
    default:
      return usage(`${at}${said}`, path);
  }
}
