// `xetcd machines export`: the statecharts a member runs, as JSON or Mermaid,
// and docs/machines.md, which embeds the Mermaid of each.
import { Command, CommanderError, Option } from 'commander';
import type { AnyStateMachine } from 'xstate';
import { chartJson, chartMermaid } from '../../machines/chartExport.js';
import { MACHINES } from '../../machines/catalog.js';

/** What each chart is, for the docs page. */
const ABOUT: Readonly<Record<string, string>> = {
  memberLifecycle:
    'The member lifecycle (`machines/memberLifecycle.ts`): from validating the configuration to serving, stopping or failing.',
  serverParts:
    "A running member's parts (`machines/serverParts.ts`): the actors every member runs, and those only a leader runs.",
  raft: 'The Raft role (`machines/raftRole.ts`): follower, learner, pre-candidate, candidate and leader, and what each does with each message.',
};

export const MACHINES_DOC_COMMAND = 'npm run machines:docs';

/** The text of docs/machines.md, generated from the machine objects. */
export function machinesDoc(): string {
  const sections = [...MACHINES].map(([name, machine]) =>
    [
      `## ${name}`,
      '',
      ABOUT[name] ?? `The \`${name}\` statechart.`,
      '',
      '```mermaid',
      chartMermaid(machine).trimEnd(),
      '```',
      '',
    ].join('\n'),
  );
  return [
    '# Statecharts',
    '',
    '<!-- Generated from the machines in machines/ by `npm run machines:docs`; edit the machines, not this file. -->',
    '',
    'The Raft roles, the member lifecycle and the parts of a running member are XState statecharts in `machines/`.',
    'The diagrams below are drawn from the machine objects themselves, so they show what runs.',
    'Each state is nested as in the chart; an edge is labelled with its event and, in brackets, its guard.',
    "XState's own events read as `onDone`/`onError` of an invoked actor, `after` for a delay and `always` for an eventless transition;",
    'an edge from a state to itself (the outermost state is the machine) runs actions without leaving the state.',
    '',
    'Regenerate this page after changing a machine (a test fails while it is out of date):',
    '',
    '```sh',
    MACHINES_DOC_COMMAND,
    '```',
    '',
    'Export a chart for another tool, as JSON (`machine.definition`) or Mermaid; without a name, every machine',
    '(JSON: one object by machine id; Mermaid: one diagram after another):',
    '',
    '```sh',
    'npx xetcd machines export --format json raft',
    'npx xetcd machines export --format mermaid serverParts',
    '```',
    '',
    ...sections,
  ].join('\n');
}

type Format = 'json' | 'mermaid';

function exportText(format: Format, machines: readonly AnyStateMachine[]): string {
  if (format === 'mermaid') return machines.map(chartMermaid).join('\n');
  // One machine: its definition; several: an object of definitions by name.
  if (machines.length === 1) return `${chartJson(machines[0]!)}\n`;
  const parts = machines.map((m) => `${JSON.stringify(m.id)}: ${chartJson(m).replace(/\n/g, '\n  ')}`);
  return `{\n  ${parts.join(',\n  ')}\n}\n`;
}

/** `xetcd machines ...`; returns the exit code. */
export function runMachinesCli(
  argv: readonly string[],
  out: (t: string) => void,
  err: (t: string) => void,
): number {
  const names = [...MACHINES.keys()];
  let code = 0;
  const program = new Command('xetcd machines')
    .description('The statecharts of a member (machines/).')
    .helpOption('-h, --help', 'Show this help and exit.')
    .exitOverride()
    .configureOutput({
      writeOut: out,
      writeErr: err,
      outputError: (text, write) => write(`xetcd machines: ${text.replace(/^error: /, '')}`),
    });
  program
    .command('export')
    .description(`Write the statechart definitions, of one machine or all (${names.join(', ')}).`)
    .argument('[name]', `the machine: ${names.join(', ')}`)
    .addOption(
      new Option('--format <format>', 'json (machine.definition) or mermaid (stateDiagram-v2)')
        .choices(['json', 'mermaid'])
        .default('json'),
    )
    .helpOption('-h, --help', 'Show this help and exit.')
    .allowExcessArguments(false)
    .exitOverride()
    .action((name: string | undefined, opts: { format: Format }) => {
      const selected = name === undefined ? [...MACHINES.values()] : [MACHINES.get(name)];
      if (selected.some((m) => m === undefined)) {
        err(`xetcd machines export: unknown machine '${name}'; the machines are: ${names.join(', ')}\n`);
        code = 1;
        return;
      }
      out(exportText(opts.format, selected as AnyStateMachine[]));
    });
  try {
    program.parse(argv, { from: 'user' });
  } catch (e) {
    if (e instanceof CommanderError) return e.exitCode === 0 ? 0 : 1;
    throw e;
  }
  return code;
}
