/**
 * The file format of every script in the Raft tests, after etcd's datadriven
 * testdata: one command a line, and under a command whose output is part of
 * the specification, a `----` line and the output it must print, up to the
 * next blank line.
 *
 *   # a comment
 *   campaign 1
 *   stabilize
 *   ----
 *   1->2 MsgVote term=1 last=0/0
 *   ...
 *
 * A command without `----` is run, and what it prints is not compared (the
 * simulation's schedules are such scripts). Run with XETCD_REWRITE=1 to
 * write the output each `----` block now gets into the file, after a
 * deliberate change (and read the diff before committing it).
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { expect } from 'vitest';

/** One command of a script, with the output it must print when the script says (`----`). */
export interface Directive {
  /** 1-based line of the command in its file. */
  line: number;
  /** The command as written, without a trailing comment. */
  command: string;
  /** The expected output (lines joined by \n), when the command is followed by `----`. */
  expected?: string;
}

/** A file split into directives, and the lines around them (kept as they are on rewrite). */
interface Parsed {
  directives: Directive[];
  /** Source lines; expected-output lines are replaced by the directive index that owns them. */
  layout: Array<string | number>;
}

/**
 * Strips a trailing comment: `#` at the start of a line or after a space, and
 * followed by a space or the end of the line (`#2` alone is an argument: the
 * second message of its kind).
 */
export function stripComment(raw: string): string {
  for (let i = 0; i < raw.length; i++) {
    if (raw[i] !== '#' || (i > 0 && raw[i - 1] !== ' ')) continue;
    if (i + 1 === raw.length || raw[i + 1] === ' ') return raw.slice(0, i).trim();
  }
  return raw.trim();
}

function parse(text: string): Parsed {
  const lines = text.split('\n');
  if (lines.at(-1) === '') lines.pop();
  const directives: Directive[] = [];
  const layout: Array<string | number> = [];
  for (let i = 0; i < lines.length; i++) {
    const raw = lines[i]!;
    const command = stripComment(raw);
    layout.push(raw);
    if (command === '' || command === '----') continue;
    const d: Directive = { line: i + 1, command };
    directives.push(d);
    if (lines[i + 1] !== '----') continue;
    layout.push('----');
    i++;
    const out: string[] = [];
    while (i + 1 < lines.length && lines[i + 1] !== '') out.push(lines[++i]!);
    d.expected = out.join('\n');
    layout.push(directives.length - 1);
  }
  return { directives, layout };
}

/** The commands of a script, in order. */
export function directives(text: string): Directive[] {
  return parse(text).directives;
}

export interface ScriptResult {
  /** The script with each `----` block holding the output it got. */
  rendered: string;
  /** Every `----` block whose output differs, as want/got. */
  failures: string[];
}

/** Runs each command through `run` (which returns its output lines) and compares the `----` blocks. */
export function runDirectives(text: string, run: (d: Directive) => string[]): ScriptResult {
  const { directives: ds, layout } = parse(text);
  const got: string[] = [];
  const failures: string[] = [];
  for (const d of ds) {
    const out = run(d).join('\n');
    got.push(out);
    if (d.expected !== undefined && out !== d.expected)
      failures.push(`line ${d.line}: ${d.command}\n--- want\n${d.expected}\n--- got\n${out}`);
  }
  const rendered = layout
    .flatMap((l) => (typeof l === 'number' ? (got[l] === '' ? [] : [got[l]!]) : [l]))
    .join('\n');
  return { rendered: rendered + '\n', failures };
}

/** The test of one script file: its `----` blocks must match (or, with XETCD_REWRITE=1, are rewritten). */
export function checkScriptFile(path: string, run: (d: Directive) => string[]): void {
  const { rendered, failures } = runDirectives(readFileSync(path, 'utf8'), run);
  if (process.env.XETCD_REWRITE) {
    writeFileSync(path, rendered);
    return;
  }
  expect(failures).toEqual([]);
}

/** Arguments of the form key=value or key=(a b c), in any order, after the command's name. */
export function keyArgs(command: string): Map<string, string[]> {
  const out = new Map<string, string[]>();
  const re = /(\w+)=(?:\(([^)]*)\)|(\S+))/g;
  for (const m of command.matchAll(re)) {
    const list = m[2] !== undefined ? m[2].split(/[\s,]+/).filter(Boolean) : [m[3]!];
    out.set(m[1]!, list);
  }
  return out;
}
