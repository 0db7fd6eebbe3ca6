/**
 * The verified client certificates of the client port's TLS connections, by
 * the peer address a gRPC call reports (etcd's AuthInfoFromTLS reads the
 * certificate from the call's TLS state). TLS is terminated before grpc-js
 * sees a connection (listener.ts), so the listener records each connection's
 * certificate here and a call finds it by its peer's address.
 */
import type { TLSSocket } from 'node:tls';

export class PeerIdentities {
  private readonly commonNames = new Map<string, string>();

  /** Records the CN of a connection's verified client certificate, forgotten when the connection closes. */
  register(socket: TLSSocket): void {
    if (!socket.authorized) return;
    const cn = socket.getPeerCertificate().subject?.CN;
    const peer = peerAddress(socket.remoteAddress, socket.remotePort);
    if (typeof cn !== 'string' || cn === '' || peer === undefined) return;
    this.commonNames.set(peer, cn);
    socket.once('close', () => {
      if (this.commonNames.get(peer) === cn) this.commonNames.delete(peer);
    });
  }

  /** The CN of the certificate the connection at `peer` (`address:port`, as grpc-js's getPeer() says) presented. */
  commonNameOf(peer: string): string | undefined {
    return this.commonNames.get(peer);
  }
}

/** A connection's peer as grpc-js names it. */
export function peerAddress(address: string | undefined, port: number | undefined): string | undefined {
  if (address === undefined || port === undefined) return undefined;
  return `${address}:${port}`;
}
