// The `xetcd` command: etcd's flags (each also XETCD_<FLAG> and a YAML key),
// a refusal with one line per problem before anything starts, then the member
// lifecycle until a signal stops it. Returns the exit code instead of exiting,
// so tests can run it in-process or in a child process with a fake server.
import { readFileSync } from 'node:fs';
import pkg from '../../package.json' with { type: 'json' };
import { Command, CommanderError, Option } from 'commander';
import { ETCD_SERVER_VERSION } from '../api/httpVersion.js';
import { loadConfig } from '../embed/config.js';
import { startEtcd, type MemberServerFactory } from '../embed/etcd.js';
import { createServerLayer } from '../embed/serverLayer.js';
import { CONFIG_FILE_FLAG, FLAGS, envName, type FlagSpec } from '../embed/flags.js';
import { attachInspector, INSPECT_PATH, type AttachedInspector } from '../embed/inspector.js';
import { handleCrashes, handleStopSignals } from '../embed/signals.js';
import { createLogger } from '../logging.js';
import { runMachinesCli } from './machines.js';

export interface CliDeps {
  /** The server layer; the real one unless a test stands in for it. */
  readonly server?: MemberServerFactory;
  readonly env?: Readonly<Record<string, string | undefined>>;
  readonly stdout?: (text: string) => void;
  readonly stderr?: (text: string) => void;
  /** Used by a second signal to exit at once. */
  readonly exit?: (code: number) => void;
}

export function versionText(): string {
  return [
    `xetcd Version: ${pkg.version}`,
    `etcd API Version: ${ETCD_SERVER_VERSION.split('.').slice(0, 2).join('.')} (wire-compatible with etcd ${ETCD_SERVER_VERSION})`,
    `Node Version: ${process.version}`,
    `Node OS/Arch: ${process.platform}/${process.arch}`,
  ].join('\n');
}

function optionFor(spec: FlagSpec): Option {
  const flag =
    spec.kind === 'bool'
      ? `--${spec.name} [bool]`
      : spec.optionalValue === true
        ? `--${spec.name} [value]`
        : `--${spec.name} <value>`;
  const shown = spec.default === '' ? '' : ` (default: ${spec.default})`;
  const inert = spec.inert !== undefined ? ' Accepted as etcd does; changes nothing in xetcd.' : '';
  return new Option(flag, `${spec.description}${inert}${shown} [env ${envName(spec.name)}]`);
}

export function buildProgram(out: (t: string) => void, err: (t: string) => void): Command {
  const program = new Command('xetcd')
    .description(
      'A distributed, reliable key-value store speaking etcd v3 (gRPC and HTTP on one client port).\n' +
        'Takes every flag of etcd 3.4 (those that change nothing here say why when set).\n' +
        'Every flag can also be set as XETCD_<FLAG> or ETCD_<FLAG> in the environment or as a key in\n' +
        '--config-file; precedence: flag > XETCD_* > ETCD_* > config file > default.',
    )
    .usage('[flags]')
    .version(versionText(), '--version', 'Print the version and exit.')
    .helpOption('-h, --help', 'Show this help and exit.')
    .allowExcessArguments(false)
    .exitOverride()
    .configureOutput({
      writeOut: out,
      writeErr: err,
      outputError: (text, write) => write(`xetcd: ${text.replace(/^error: /, '')}`),
    });
  for (const spec of FLAGS) if (spec.secret !== true) program.addOption(optionFor(spec));
  const secrets = FLAGS.filter((spec) => spec.secret === true);
  program.addHelpText(
    'after',
    `\nSecrets, read only from the environment or the config file (never a command line):\n${secrets
      .map((spec) => `  ${envName(spec.name)} (config key ${spec.name}): ${spec.description}`)
      .join('\n')}\n`,
  );
  program.addHelpText(
    'after',
    '\nOther commands:\n  xetcd machines export [--format json|mermaid] [NAME]  Write the statecharts (docs/machines.md).\n',
  );
  program.addOption(
    new Option(
      `--${CONFIG_FILE_FLAG} <path>`,
      `Path to a YAML configuration file with etcd's keys (name, data-dir, listen-client-urls, ...). [env ${envName(CONFIG_FILE_FLAG)}]`,
    ),
  );
  return program;
}

/** Commander's camelCase attribute for a flag: `data-dir` → `dataDir`. */
function attributeOf(flag: string): string {
  return flag.replace(/-([a-z])/g, (_, c: string) => c.toUpperCase());
}

/**
 * Go's flag package, which etcd uses, takes `-name` as well as `--name`;
 * commander takes only the latter, so a known flag with one dash gets two.
 */
export function withDoubleDashes(argv: readonly string[]): string[] {
  const known = new Set([...FLAGS.map((f) => f.name), CONFIG_FILE_FLAG, 'version', 'help']);
  return argv.map((arg) => {
    const m = /^-([a-z][a-z0-9-]+)(=.*)?$/.exec(arg);
    return m !== null && known.has(m[1] ?? '') ? `-${arg}` : arg;
  });
}

export async function runCli(argv: readonly string[], deps: CliDeps = {}): Promise<number> {
  const out = deps.stdout ?? ((t: string) => void process.stdout.write(t));
  const err = deps.stderr ?? ((t: string) => void process.stderr.write(t));
  // A subcommand that starts no member; etcd's flags stay the whole command line otherwise.
  if (argv[0] === 'machines') return runMachinesCli(argv.slice(1), out, err);
  const program = buildProgram(out, err);
  try {
    program.parse(withDoubleDashes(argv), { from: 'user' });
  } catch (e) {
    if (e instanceof CommanderError) {
      // --help and --version end here with 0; a bad flag with 1, after commander's one-line message.
      return e.exitCode === 0 ? 0 : 1;
    }
    throw e;
  }

  const flags: Record<string, string | boolean | undefined> = {};
  for (const name of [...FLAGS.map((f) => f.name), CONFIG_FILE_FLAG]) {
    const attr = attributeOf(name);
    if (program.getOptionValueSource(attr) === 'cli')
      flags[name] = program.getOptionValue(attr) as string | boolean;
  }
  const env = deps.env ?? process.env;
  const result = loadConfig({ flags, env, readFile: (p) => readFileSync(p, 'utf8') });
  const log = result.ok ? result.config.log : undefined;
  const logger = createLogger({
    level: log?.level ?? 'info',
    ...(log !== undefined ? { outputs: log.outputs } : {}),
    // zap: JSON lines even on a terminal; capnslog: lines for people even into a file.
    ...(log?.logger !== undefined ? { pretty: log.logger === 'capnslog' } : {}),
  });

  let inspector: AttachedInspector | undefined;
  if (result.ok && result.config.inspect !== undefined) {
    const target = result.config.inspect;
    inspector = attachInspector(target);
    logger.info(
      target.kind === 'url' ? { url: target.url } : { path: INSPECT_PATH },
      target.kind === 'url' ? 'XState inspector attached' : 'XState inspection served on the client port',
    );
  }

  const member = startEtcd({
    config: () => result,
    server: deps.server ?? createServerLayer,
    logger,
    report: (line) => err(`${line}\n`),
    ...(inspector !== undefined ? { inspect: inspector.observer } : {}),
    ...(inspector?.routes !== undefined ? { routes: inspector.routes } : {}),
  });
  const release = handleStopSignals(member, logger, deps.exit);
  const releaseCrashes = handleCrashes(logger, deps.exit);
  const outcome = await member.done;
  release();
  releaseCrashes();
  inspector?.stop();
  return outcome.exitCode;
}
