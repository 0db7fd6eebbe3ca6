import { describe, expect, it } from 'vitest';
import { callTree, flameSvg, selfTimeTable } from '../../../scripts/flamegraph.js';

const frame = (functionName: string, url: string) => ({ functionName, url, lineNumber: 0 });

// root → handle (xetcd, self 2) → encode (grpc-js, self 3); root → GC (self 4); root → (idle) (self 50)
const profile = {
  startTime: 0,
  endTime: 59_000,
  samples: Array.from({ length: 59 }, () => 1),
  nodes: [
    { id: 1, callFrame: frame('(root)', ''), hitCount: 0, children: [2, 4, 5] },
    { id: 2, callFrame: frame('handle', 'file:///x/src/api/kv.js'), hitCount: 2, children: [3] },
    {
      id: 3,
      callFrame: frame('encode', 'file:///x/node_modules/@grpc/grpc-js/build/src/server.js'),
      hitCount: 3,
    },
    { id: 4, callFrame: frame('(garbage collector)', ''), hitCount: 4 },
    { id: 5, callFrame: frame('(idle)', ''), hitCount: 50 },
  ],
};

describe('flamegraph', () => {
  it('builds the call tree without idle time, totals including the children', () => {
    const root = callTree(profile);
    expect(root.total).toBe(9);
    expect(root.children.map((c) => [c.name, c.total, c.kind])).toEqual([
      ['handle', 5, 'xetcd'],
      ['(garbage collector)', 4, 'gc'],
    ]);
    expect(root.children[0]!.children[0]!.where).toBe('@grpc/grpc-js/build/src/server.js:1');
  });

  it('draws one box per call path that is wide enough, with a title line and the legend', () => {
    const svg = flameSvg(profile, 'put path');
    expect(svg).toContain('put path');
    expect(svg.match(/<rect [^>]*rx="2"/g)).toHaveLength(4);
    for (const kind of ['xetcd', 'dependency', 'node', 'gc', 'vm']) expect(svg).toContain(`>${kind}</text>`);
  });

  it('sums self time by owner: xetcd folder, dependency package, GC', () => {
    const table = selfTimeTable(profile);
    expect(table.split('\n').slice(2)).toEqual([
      '| gc | 44.4 % |',
      '| @grpc/grpc-js | 33.3 % |',
      '| src/api | 22.2 % |',
    ]);
  });
});
