// --inspect / XETCD_INSPECT: every actor of the member (lifecycle, server
// parts, Raft role, and the actors they invoke) reports its definition, events
// and snapshots through @statelyai/inspect. With a URL they are streamed to an
// inspector listening there; bare, the member serves them on its client port
// at /inspect (src/api/inspectSocket.ts). Either way they are cut down to small
// facts first (inspectSanitize.ts). Off, nothing here exists: no observer is
// handed to any actor.
//
// The URL inspector connects lazily and keeps at most MAX_DEFERRED_EVENTS while
// it cannot send, so a missing inspector never slows or stops the member.
import { createInspector, createWebSocketInspector, type StatelyInspectionEvent } from '@statelyai/inspect';
import type { InspectionEvent, Observer } from 'xstate';
import type { HttpRoutes } from '../api/http.js';
import { InspectSocket } from '../api/inspectSocket.js';
import type { InspectTarget } from './config.js';
import {
  sanitizeContext,
  sanitizeEvent,
  sanitizeInspectionEvent,
  sanitizeSnapshot,
} from './inspectSanitize.js';

/** Events the URL inspector holds while disconnected (its default too, set here so it stays so). */
export const MAX_DEFERRED_EVENTS = 200;

/** The path on the client port where bare --inspect serves the stream. */
export const INSPECT_PATH = '/inspect';

export interface AttachedInspector {
  /** What the member's actors are created with. */
  readonly observer: Observer<InspectionEvent>;
  /** Mounts /inspect on the client port (bare --inspect only). */
  readonly routes?: (http: HttpRoutes) => void;
  stop(): void;
}

/**
 * The @xstate.actor path reads the actor's snapshot itself, later: its
 * context goes through sanitizeContext and the rest is cut down here, so no
 * message leaves with more than a snapshot's small facts.
 */
function serialize(event: StatelyInspectionEvent): StatelyInspectionEvent {
  return event.type === '@xstate.actor' ? { ...event, snapshot: sanitizeSnapshot(event.snapshot) } : event;
}

const INSPECTOR_OPTIONS = {
  sanitizeContext,
  sanitizeEvent,
  serialize,
  maxDeferredEvents: MAX_DEFERRED_EVENTS,
};

/**
 * Sanitizes each event as it happens, then hands it to the Stately inspector.
 * It runs inside the actor's own step: whatever goes wrong here is the
 * inspector's loss, never the actor's.
 */
function sanitizing(next: Observer<InspectionEvent>): Observer<InspectionEvent> {
  return {
    next: (event) => {
      try {
        const clean = sanitizeInspectionEvent(event);
        if (clean !== undefined) next.next?.(clean);
      } catch {
        // The event is not shown.
      }
    },
  };
}

export function attachInspector(target: InspectTarget): AttachedInspector {
  switch (target.kind) {
    case 'url': {
      const inspector = createWebSocketInspector({ url: target.url, ...INSPECTOR_OPTIONS });
      return { observer: sanitizing(inspector.inspect), stop: () => inspector.stop() };
    }
    case 'serve': {
      const socket = new InspectSocket();
      const inspector = createInspector(socket, INSPECTOR_OPTIONS);
      return {
        observer: sanitizing(inspector.inspect),
        routes: (http) =>
          http
            .path(INSPECT_PATH, (req, res) => socket.page(req, res))
            .upgrade(INSPECT_PATH, (req, s, head) => socket.upgrade(req, s, head)),
        stop: () => socket.close(),
      };
    }
  }
}
