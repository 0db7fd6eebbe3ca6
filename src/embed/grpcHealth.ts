// grpc.health.v1.Health, which etcd 3.4 registers on its client port (embed/serve.go):
// the whole server ("") answers SERVING while the member serves and NOT_SERVING
// once it is stopping, so load balancers drain it before it goes away. Unknown
// service names get NOT_FOUND "unknown service", as grpc-go's health server does.
import * as grpc from '@grpc/grpc-js';
import {
  HealthCheckRequest,
  HealthCheckResponse,
  HealthCheckResponse_ServingStatus as Status,
  HealthService,
} from '../proto/grpc_health_v1.js';

export class GrpcHealth {
  private readonly statuses = new Map<string, Status>([['', Status.SERVING]]);
  private readonly watchers = new Set<{
    service: string;
    call: grpc.ServerWritableStream<HealthCheckRequest, HealthCheckResponse>;
  }>();

  /** Set the status of a service ('' is the whole server) and tell every watcher of it. */
  set(service: string, status: Status): void {
    this.statuses.set(service, status);
    for (const w of this.watchers) {
      if (w.service === service) w.call.write(HealthCheckResponse.create({ status }));
    }
  }

  /** NOT_SERVING for everything, then end the watch streams (the member is going away). */
  shutdown(): void {
    for (const service of this.statuses.keys()) this.set(service, Status.NOT_SERVING);
    for (const w of this.watchers) w.call.end();
    this.watchers.clear();
  }

  register(server: grpc.Server): void {
    server.addService(HealthService, {
      Check: (
        call: grpc.ServerUnaryCall<HealthCheckRequest, HealthCheckResponse>,
        cb: grpc.sendUnaryData<HealthCheckResponse>,
      ) => {
        const status = this.statuses.get(call.request.service);
        if (status === undefined) cb({ code: grpc.status.NOT_FOUND, details: 'unknown service' });
        else cb(null, HealthCheckResponse.create({ status }));
      },
      Watch: (call: grpc.ServerWritableStream<HealthCheckRequest, HealthCheckResponse>) => {
        const service = call.request.service;
        const entry = { service, call };
        this.watchers.add(entry);
        call.on('cancelled', () => this.watchers.delete(entry));
        call.write(
          HealthCheckResponse.create({ status: this.statuses.get(service) ?? Status.SERVICE_UNKNOWN }),
        );
      },
    });
  }
}
