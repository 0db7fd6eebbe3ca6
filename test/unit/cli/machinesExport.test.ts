// `xetcd machines export` and docs/machines.md, which is generated from it.
import { execFile } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { StateMachine } from 'xstate';
import { describe, expect, it } from 'vitest';
import { MACHINES } from '../../../machines/catalog.js';
import { MACHINES_DOC_COMMAND, machinesDoc } from '../../../src/cli/machines.js';
import { runCli } from '../../../src/cli/run.js';

const ROOT = fileURLToPath(new URL('../../../', import.meta.url));

async function cli(args: string[]): Promise<{ code: number; out: string; err: string }> {
  let out = '';
  let err = '';
  const code = await runCli(args, { stdout: (t) => (out += t), stderr: (t) => (err += t) });
  return { code, out, err };
}

describe('xetcd machines export', () => {
  it('--format json NAME prints the definition of that machine', async () => {
    const { code, out } = await cli(['machines', 'export', '--format', 'json', 'raft']);
    expect(code).toBe(0);
    const def = JSON.parse(out) as {
      id: string;
      initial: { target: string[] };
      states: Record<string, unknown>;
    };
    expect(def.id).toBe('raft');
    expect(def.initial.target).toEqual(['#raft.following']);
    expect(Object.keys(def.states)).toEqual(['following', 'campaigning', 'leader']);
  });

  it('--format mermaid NAME prints a stateDiagram-v2', async () => {
    const { code, out } = await cli(['machines', 'export', '--format', 'mermaid', 'memberLifecycle']);
    expect(code).toBe(0);
    expect(out.startsWith('stateDiagram-v2\n')).toBe(true);
    expect(out).toContain('state "serving" as memberLifecycle_serving {');
  });

  it('an unknown NAME is an error that lists the machines, exit 1', async () => {
    const { code, out, err } = await cli(['machines', 'export', 'nope']);
    expect(code).toBe(1);
    expect(out).toBe('');
    expect(err).toBe(
      `xetcd machines export: unknown machine 'nope'; the machines are: ${[...MACHINES.keys()].join(', ')}\n`,
    );
  });

  it('an unknown format is refused, exit 1', async () => {
    const { code, err } = await cli(['machines', 'export', '--format', 'dot']);
    expect(code).toBe(1);
    expect(err).toMatch(/Allowed choices are json, mermaid/);
  });

  it('with no NAME writes every machine, whole, into a pipe read later than it is written', async () => {
    // The reader starts after the command has filled the pipe (stdin not a pipe, as from a terminal):
    // what is written after that must still arrive.
    const { stdout } = await promisify(execFile)(
      '/bin/sh',
      ['-c', `"${process.execPath}" bin/xetcd.js machines export < /dev/null | (sleep 1; cat)`],
      { cwd: ROOT, maxBuffer: 64 << 20, timeout: 60_000 },
    );
    expect(stdout.length).toBeGreaterThan(65_536);
    const all = JSON.parse(stdout) as Record<string, { id: string }>;
    expect(Object.keys(all)).toEqual([...MACHINES.keys()]);
    for (const [name, def] of Object.entries(all)) expect(def.id).toBe(name);
  }, 60_000);

  it('stops quietly when the reader leaves early', async () => {
    const { stdout, stderr } = await promisify(execFile)(
      '/bin/sh',
      ['-c', `"${process.execPath}" bin/xetcd.js machines export < /dev/null | head -c 1`],
      { cwd: ROOT, timeout: 60_000 },
    );
    expect(stdout).toBe('{');
    expect(stderr).toBe('');
  }, 60_000);

  it("is named in xetcd's --help", async () => {
    const { code, out } = await cli(['--help']);
    expect(code).toBe(0);
    expect(out).toContain('xetcd machines export [--format json|mermaid] [NAME]');
  });

  it('knows every machine exported by machines/', async () => {
    const ids: string[] = [];
    for (const file of readdirSync(join(ROOT, 'machines')).filter((f) => f.endsWith('.ts'))) {
      const mod = (await import(join(ROOT, 'machines', file))) as Record<string, unknown>;
      for (const value of Object.values(mod)) if (value instanceof StateMachine) ids.push(value.id);
    }
    expect(ids.sort()).toEqual([...MACHINES.keys()].sort());
  });
});

describe('docs/machines.md', () => {
  it(`is what the machines draw now (regenerate with \`${MACHINES_DOC_COMMAND}\`)`, () => {
    const committed = readFileSync(join(ROOT, 'docs', 'machines.md'), 'utf8');
    // The message names the fix, since a changed machine is the usual cause.
    expect(committed, `docs/machines.md is out of date: run \`${MACHINES_DOC_COMMAND}\``).toBe(machinesDoc());
  });

  it('embeds the Mermaid of every machine', () => {
    const doc = machinesDoc();
    expect(doc.match(/^```mermaid$/gm)).toHaveLength(MACHINES.size);
    for (const name of MACHINES.keys()) expect(doc).toContain(`## ${name}\n`);
  });
});
