// Cases share a cluster per profile, as etcd's functional tester runs case after case
// on one cluster; a case that failed may leave it broken, so the next case gets a
// fresh one.
import {
  FaultCluster,
  runCase,
  type CaseResult,
  type FaultCase,
  type FaultSettings,
  type Profile,
} from './harness.js';

export class FaultSuite {
  private readonly clusters = new Map<Profile, FaultCluster>();

  constructor(readonly settings: FaultSettings) {}

  async run(fault: FaultCase, seed: number): Promise<CaseResult> {
    const fc = await this.cluster(fault.profile);
    const result = await runCase(fc, fault, seed);
    if (!result.ok) {
      this.clusters.delete(fault.profile);
      await fc.stop();
    }
    return result;
  }

  async stop(): Promise<void> {
    const all = [...this.clusters.values()];
    this.clusters.clear();
    await Promise.all(all.map((c) => c.stop()));
  }

  private async cluster(profile: Profile): Promise<FaultCluster> {
    let fc = this.clusters.get(profile);
    if (fc === undefined) {
      fc = await FaultCluster.start(profile, this.settings);
      this.clusters.set(profile, fc);
    }
    return fc;
  }
}

/** Runs each case `runs` times (all cases, then again), each run with its own seed. */
export async function runCases(
  cases: readonly FaultCase[],
  settings: FaultSettings,
  opts: { runs: number; seed: number; onResult?: (r: CaseResult, run: number) => void },
): Promise<CaseResult[]> {
  const suite = new FaultSuite(settings);
  const results: CaseResult[] = [];
  try {
    for (let run = 1; run <= opts.runs; run++) {
      for (const [i, fault] of cases.entries()) {
        const r = await suite.run(fault, opts.seed + (run - 1) * cases.length + i);
        results.push(r);
        opts.onResult?.(r, run);
      }
    }
  } finally {
    await suite.stop();
  }
  return results;
}
