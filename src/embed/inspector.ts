// --inspect / XETCD_INSPECT: stream every actor's events and snapshots to the
// Stately inspector over a WebSocket, so the running member's charts can be
// watched live. The inspector connects lazily and drops events it cannot send,
// so a missing inspector never slows or stops the member.
import { createWebSocketInspector } from '@statelyai/inspect';
import type { InspectionEvent, Observer } from 'xstate';

export interface AttachedInspector {
  readonly observer: Observer<InspectionEvent>;
  stop(): void;
}

export function attachInspector(url: string): AttachedInspector {
  const inspector = createWebSocketInspector({ url });
  return {
    observer: inspector.inspect as Observer<InspectionEvent>,
    stop: () => inspector.stop(),
  };
}
