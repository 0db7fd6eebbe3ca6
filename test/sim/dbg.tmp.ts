import { readFileSync } from 'node:fs';
import { parseSchedule, formatEvent } from './schedule.js';
import { Simulator } from './simulator.js';
import { MessageType } from '../../src/proto/raftpb.js';
const s = parseSchedule(readFileSync(process.argv[2]!, 'utf8'));
const sim = new Simulator(s.config);
const watch = Number(process.argv[3]);
s.events.forEach((e, i) => {
  const n = sim.nodes.get(watch)!;
  let extra = '';
  if ((e.kind === 'deliver') && e.to === watch) {
    const idx = sim.network.find(e.from, e.to, e.type, e.nth);
    const m = idx >= 0 ? sim.network.inFlight[idx]!.msg : undefined;
    if (m) extra = ` [term ${m.term} index ${m.index} logTerm ${m.logTerm} commit ${m.commit} ents ${m.entries.map(x => `${x.index}/${x.term}`).join(',')} snap ${m.snapshot?.metadata?.index}]`;
  }
  try { sim.run(e, i); } catch (err) { console.log('ERR', (err as Error).message); }
  if (n.up && (JSON.stringify(e).includes(`"node":${watch}`) || JSON.stringify(e).includes(`"to":${watch}`) || JSON.stringify(e).includes(`"from":${watch}`))) {
    const out = n.outstanding;
    console.log(i, formatEvent(e) + extra, '| disk', n.disk.firstIndex(), n.disk.lastIndex(), 'diskView', n.diskView.snapIndex, n.diskView.lastIndex, 'mem', n.memView.lastIndex,
      out ? `| rd ents ${out.rd.entries.map(x => x.index + '/' + x.term).join(',')} snap ${out.rd.snapshot?.metadata?.index} hs ${out.rd.hardState?.commit} msgs ${out.rd.messages.map(m => MessageType[m.type] + ':' + m.index + (m.reject ? 'R' : '')).join(',')} persisted ${out.persisted}` : '');
  }
});
