import { runSeed } from './runner.js';
const agg = new Map<string, Record<string, number>>();
for (let seed = 1; seed <= 140; seed++) {
  const r = runSeed(seed, { steps: 1500 });
  const a = agg.get(r.profile) ?? {
    n: 0,
    ticks: 0,
    leaderTerms: 0,
    truncations: 0,
    lost: 0,
    delivered: 0,
    maxCommit: 0,
    snapshotsSent: 0,
    crashes: 0,
  };
  a.n!++;
  for (const k of Object.keys(a)) if (k !== 'n') a[k]! += (r.stats as unknown as Record<string, number>)[k]!;
  agg.set(r.profile, a);
  if (r.violation) console.log('VIOLATION', seed, r.violation.message);
}
for (const [p, a] of agg)
  console.log(
    p,
    Object.entries(a)
      .map(([k, v]) => `${k}=${k === 'n' ? v : (v / a.n!).toFixed(1)}`)
      .join(' '),
  );
