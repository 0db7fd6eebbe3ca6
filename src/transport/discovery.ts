/**
 * How a member joining a running cluster learns it (etcd's
 * GetClusterFromRemotePeers): it asks the members its --initial-cluster names,
 * each by its peer URL, for the member list. The answer carries the cluster
 * ID, and the joining member finds its own ID by its peer URLs in the list.
 */
import type { Logger } from 'pino';
import { filter, firstValueFrom, timeout } from 'rxjs';
import { PeerRequest, PeerResponse, type ClusterMembers } from '../proto/xetcdpb.js';
import { NatsLink, type NatsLinkOptions } from './natsLink.js';
import { PeerSeals, type PeerKey } from './peerSeal.js';
import { peerUrlSubject } from './subjects.js';

export async function fetchClusterFromPeers(
  link: Omit<NatsLinkOptions, 'logger'>,
  peerUrls: readonly string[],
  timeoutMs: number,
  logger: Logger,
  peerKey?: PeerKey,
): Promise<ClusterMembers> {
  const nats = new NatsLink({ ...link, logger });
  // Not a member yet: no cluster, no ID. The answer must still be sealed with the shared key.
  const seals = new PeerSeals({
    ...(peerKey !== undefined ? { key: peerKey } : {}),
    clusterId: 0n,
    self: 0n,
  });
  nats.start([]);
  const problems: string[] = [];
  try {
    await firstValueFrom(nats.connected$.pipe(filter(Boolean), timeout(timeoutMs))).catch(() => {
      throw new Error(`cannot reach NATS at ${link.servers.join(',')} within ${timeoutMs} ms`);
    });
    const question = PeerRequest.encode(PeerRequest.create({ memberList: { linearizable: false } }));
    for (const url of peerUrls) {
      try {
        const reply = seals.open(
          'response',
          await nats.request(peerUrlSubject(url), seals.seal('request', 0n, question), timeoutMs),
        );
        if ('rejected' in reply || !reply.accept()) {
          const why = 'rejected' in reply ? reply.rejected : 'replay';
          problems.push(`${url}: its answer was refused (${why}; is --peer-key-file the same?)`);
          continue;
        }
        const answer = PeerResponse.decode(reply.payload);
        if (answer.memberList?.memberList) return answer.memberList;
        problems.push(`${url}: ${answer.error ?? 'no member list'}`);
      } catch (err) {
        problems.push(`${url}: ${err instanceof Error ? err.message : String(err)}`);
      }
    }
  } finally {
    await nats.stop();
  }
  throw new Error(`could not retrieve the cluster's members from any peer (${problems.join('; ')})`);
}
