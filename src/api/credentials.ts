/**
 * What a call presents about who makes it, as etcd reads it: the token in
 * gRPC metadata `token` (or `authorization`, which etcd's gateway forwards),
 * the gateway's Authorization header (the raw token, no scheme word), and
 * over gRPC the common name of a verified client certificate. The server
 * decides what they mean (AuthRequests.authInfo).
 */
import type * as grpc from '@grpc/grpc-js';
import type { IncomingMessage } from 'node:http';
import type { RequestContext } from '../server/requestContext.js';
import type { PeerIdentities } from './peerIdentities.js';

export type Credentials = Pick<RequestContext, 'token' | 'certCommonName'>;

export function grpcCredentials(
  call: { readonly metadata: grpc.Metadata; getPeer(): string },
  identities: PeerIdentities | undefined,
): Credentials {
  const token = firstText(call.metadata.get('token')) ?? firstText(call.metadata.get('authorization'));
  const cn = identities?.commonNameOf(call.getPeer());
  return { ...(token !== undefined ? { token } : {}), ...(cn !== undefined ? { certCommonName: cn } : {}) };
}

/** grpc-gateway forwards `Authorization` and `Grpc-Metadata-*` headers as metadata; etcd reads either. */
export function httpCredentials(req: IncomingMessage): Credentials {
  const token = header(req, 'grpc-metadata-token') ?? header(req, 'authorization');
  return token !== undefined ? { token } : {};
}

/**
 * The first value, as etcd takes it (ts[0]). Node's HTTP/2 joins a header
 * sent twice into one value with ", " (python-etcd3 sends its token both as
 * metadata and as call credentials); a token never holds a comma.
 */
function firstText(values: grpc.MetadataValue[]): string | undefined {
  const v = values[0];
  if (v === undefined) return undefined;
  const text = typeof v === 'string' ? v : v.toString('utf8');
  return text.split(',')[0]!.trim();
}

function header(req: IncomingMessage, name: string): string | undefined {
  const v = req.headers[name];
  return Array.isArray(v) ? v[0] : v;
}
