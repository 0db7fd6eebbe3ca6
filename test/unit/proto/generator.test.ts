import { readFileSync } from 'node:fs';
import { relative } from 'node:path';
import { describe, expect, it } from 'vitest';
import { fieldName, generate, protocJsonName } from '../../../scripts/genProto.js';

describe('genProto', () => {
  it('reproduces the committed modules exactly', async () => {
    const out = await generate();
    expect(out.size).toBe(8);
    for (const [path, code] of out) {
      const committed = readFileSync(path, 'utf8');
      expect(committed === code, `${relative(process.cwd(), path)} is stale: run npm run proto`).toBe(true);
    }
  });

  it('names fields lowerCamelCase with acronyms as words', () => {
    const cases: Record<string, string> = {
      Term: 'term',
      conf_state: 'confState',
      range_end: 'rangeEnd',
      ID: 'id',
      memberID: 'memberId',
      member_ID: 'memberId',
      TTL: 'ttl',
      grantedTTL: 'grantedTtl',
      remaining_TTL: 'remainingTtl',
      clientURLs: 'clientUrls',
      peerURLs: 'peerUrls',
      targetID: 'targetId',
      dbSizeInUse: 'dbSizeInUse',
      isLearner: 'isLearner',
      logTerm: 'logTerm',
      HTTPServer: 'httpServer',
      keyPermission: 'keyPermission',
    };
    for (const [proto, ts] of Object.entries(cases)) expect(fieldName(proto), proto).toBe(ts);
    expect(protocJsonName('range_end')).toBe('rangeEnd');
    expect(protocJsonName('ID')).toBe('ID');
    expect(protocJsonName('member_ID')).toBe('memberID');
  });
});
