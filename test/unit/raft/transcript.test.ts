/**
 * Transcript tests, in the manner of etcd's raft testdata: each file under
 * transcripts/ is a script of commands, each followed by the output it must
 * produce. Run with XETCD_REWRITE=1 to regenerate the expected output after
 * a deliberate change (and read the diff before committing it).
 *
 * Commands:
 *   cluster <ids...> [preVote] [checkQuorum]   a new cluster of voters
 *   campaign <id> | tick <id> [n] | propose <id> <text> | read <id> <ctx> | transfer <from> <to>
 *   isolate <id> | heal | crash <id>          crash: restart from what it persisted
 *   deliver                                    one round: process every Ready, deliver and print the messages
 *   stabilize                                  deliver rounds until nothing is left
 *   status [ids...]                            role, term, vote, lead, commit, applied, last log position
 *   log <id>                                   the persisted log as index/term
 */
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { MessageType, type Message } from '../../../src/proto/raftpb.js';
import { ProposalDroppedError } from '../../../src/raft/errors.js';
import { Cluster, dec, enc } from './cluster.js';

const dir = join(dirname(fileURLToPath(import.meta.url)), 'transcripts', 'cluster');

function describeMsg(m: Message): string {
  const parts = [`${m.from}->${m.to} ${MessageType[m.type]} term=${m.term}`];
  switch (m.type) {
    case MessageType.MsgApp:
      parts.push(`prev=${m.index}/${m.logTerm} commit=${m.commit}`);
      if (m.entries.length > 0)
        parts.push(
          `entries=[${m.entries.map((e) => `${e.index}/${e.term}${e.data.length ? ` ${dec(e.data)}` : ''}`).join(', ')}]`,
        );
      break;
    case MessageType.MsgAppResp:
      parts.push(m.reject ? `reject index=${m.index} hint=${m.rejectHint}/${m.logTerm}` : `index=${m.index}`);
      break;
    case MessageType.MsgVote:
    case MessageType.MsgPreVote:
      parts.push(`last=${m.index}/${m.logTerm}`);
      break;
    case MessageType.MsgVoteResp:
    case MessageType.MsgPreVoteResp:
      if (m.reject) parts.push('reject');
      break;
    case MessageType.MsgHeartbeat:
      parts.push(`commit=${m.commit}${m.context.length ? ` ctx=${dec(m.context)}` : ''}`);
      break;
    case MessageType.MsgReadIndexResp:
      parts.push(`index=${m.index}`);
      break;
  }
  return parts.join(' ');
}

class Runner {
  c: Cluster | undefined;
  reads: string[] = [];

  private cluster(): Cluster {
    if (!this.c) throw new Error('no cluster yet');
    return this.c;
  }

  private round(out: string[]): boolean {
    const c = this.cluster();
    const msgs = c.takeMessages();
    for (const m of msgs) {
      const dropped = c.cut.has(`${m.from}->${m.to}`);
      out.push(`${describeMsg(m)}${dropped ? ' (dropped)' : ''}`);
      c.deliver(m);
    }
    c.processAllReadies();
    return msgs.length > 0;
  }

  run(cmd: string): string[] {
    const [name, ...args] = cmd.trim().split(/\s+/);
    const out: string[] = [];
    const id = (i: number) => BigInt(args[i]!);
    switch (name) {
      case 'cluster': {
        const ids = args.filter((a) => /^\d+$/.test(a)).map(BigInt);
        this.c = new Cluster(ids, {
          preVote: args.includes('preVote'),
          checkQuorum: args.includes('checkQuorum'),
        });
        for (const [nid, n] of this.c.nodes)
          n.raft.readState$.subscribe((rs) =>
            this.reads.push(`${nid}: read ${dec(rs.requestCtx)} at ${rs.index}`),
          );
        break;
      }
      case 'campaign':
        this.cluster().raft(id(0)).campaign();
        break;
      case 'tick':
        for (let i = 0; i < Number(args[1] ?? 1); i++) this.cluster().raft(id(0)).tick();
        break;
      case 'propose':
        try {
          this.cluster().raft(id(0)).propose(enc(args[1]!));
        } catch (err) {
          if (!(err instanceof ProposalDroppedError)) throw err;
          out.push(`error: ${err.message} (${err.reason})`);
        }
        break;
      case 'read':
        this.cluster().raft(id(0)).readIndex(enc(args[1]!));
        break;
      case 'transfer':
        this.cluster().raft(id(0)).transferLeadership(id(1));
        break;
      case 'isolate':
        this.cluster().isolate(id(0));
        break;
      case 'heal':
        this.cluster().heal();
        break;
      case 'crash':
        this.cluster().node(id(0)).restart();
        break;
      case 'deliver':
        this.round(out);
        break;
      case 'stabilize':
        for (let i = 0; i < 100 && this.round(out); i++) {
          /* until quiet */
        }
        break;
      case 'status': {
        const c = this.cluster();
        const ids = args.length ? args.map(BigInt) : [...c.nodes.keys()];
        for (const nid of ids) {
          const s = c.raft(nid).status();
          const st = c.node(nid).storage;
          out.push(
            `${nid}: ${s.role} term=${s.term} vote=${s.vote} lead=${s.lead} commit=${s.commit} applied=${s.applied} last=${st.lastIndex()}/${st.term(st.lastIndex())}`,
          );
        }
        break;
      }
      case 'log':
        out.push(
          this.cluster()
            .logOf(id(0))
            .map(([i, t]) => `${i}/${t}`)
            .join(' ') || '(empty)',
        );
        break;
      default:
        throw new Error(`unknown command ${name}`);
    }
    out.push(...this.reads);
    this.reads = [];
    return out;
  }
}

/** A script: blocks of "> command" followed by expected output lines, separated by blank lines. */
function runScript(text: string): { rendered: string; failures: string[] } {
  const r = new Runner();
  const blocks = text
    .split(/\n\n+/)
    .map((b) => b.trim())
    .filter(Boolean);
  const rendered: string[] = [];
  const failures: string[] = [];
  for (const block of blocks) {
    const lines = block.split('\n');
    if (lines[0]!.startsWith('#')) {
      rendered.push(block);
      continue;
    }
    const cmd = lines[0]!.replace(/^> /, '');
    const want = lines.slice(1).join('\n');
    const got = r.run(cmd).join('\n');
    if (got !== want) failures.push(`> ${cmd}\n--- want\n${want}\n--- got\n${got}`);
    rendered.push([`> ${cmd}`, ...(got ? [got] : [])].join('\n'));
  }
  return { rendered: rendered.join('\n\n') + '\n', failures };
}

describe('transcripts', () => {
  for (const file of readdirSync(dir).filter((f) => f.endsWith('.txt'))) {
    it(file.replace(/\.txt$/, ''), () => {
      const path = join(dir, file);
      const { rendered, failures } = runScript(readFileSync(path, 'utf8'));
      if (process.env.XETCD_REWRITE) {
        writeFileSync(path, rendered);
        return;
      }
      expect(failures).toEqual([]);
    });
  }
});
