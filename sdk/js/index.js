'use strict';
// Gap-fill for pusher-js on Switchboard (docs/history.md). withRecovery
// wraps a Pusher instance, without forking pusher-js:
//   - every pusher:subscribe asks for positions, and carries the last
//     position seen on that channel when there is one, so after a
//     reconnect the server sends what was missed before the live events;
//   - it reads each event's position ("seq", "epoch") from the raw frame,
//     since pusher-js keeps only event, channel, data and user_id;
//   - switchboard:recovery_failed (the missed events are gone) calls
//     onRecoveryFailed(channelName, {epoch, from, oldest}) so the app can
//     reload that channel's state; the position is forgotten.
// On any other server the extra field is ignored and nothing changes.

function withRecovery(pusher, { onRecoveryFailed } = {}) {
  const positions = new Map(); // channel name → { epoch, seq }

  const sendEvent = pusher.send_event;
  pusher.send_event = function send(event, data, channel) {
    if (data && typeof data.channel === 'string') {
      if (event === 'pusher:subscribe') {
        const p = positions.get(data.channel);
        data = { ...data, position: p ? { epoch: p.epoch, seq: p.seq } : {} };
      } else if (event === 'pusher:unsubscribe') {
        positions.delete(data.channel);
      }
    }
    return sendEvent.call(this, event, data, channel);
  };

  function onFrame(messageEvent) {
    let m;
    try { m = JSON.parse(messageEvent.data); } catch { return; }
    if (!m || typeof m.channel !== 'string') return;
    if (typeof m.seq === 'number' && typeof m.epoch === 'string') {
      positions.set(m.channel, { epoch: m.epoch, seq: m.seq });
    } else if (m.event === 'switchboard:recovery_failed') {
      positions.delete(m.channel);
      if (onRecoveryFailed) {
        let info = m.data;
        try { info = JSON.parse(m.data); } catch { /* leave it as sent */ }
        onRecoveryFailed(m.channel, info);
      }
    }
  }

  // Each (re)connection has a new transport: listen to its raw frames.
  // pusher-js's own listener was bound first, so an event reaches the
  // app before its position is recorded here.
  let hooked = null;
  function hook() {
    const conn = pusher.connection && pusher.connection.connection;
    const transport = conn && conn.transport;
    if (!transport || transport === hooked) return;
    hooked = transport;
    transport.bind('message', onFrame);
  }
  pusher.connection.bind('connected', hook);
  hook();

  return {
    // position returns the last position seen on a channel, if any.
    position: (channelName) => positions.get(channelName),
  };
}

module.exports = { withRecovery };
