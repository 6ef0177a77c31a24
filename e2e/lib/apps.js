'use strict';
// The apps every suite's server loads from its apps file (snake_case, as in
// tenants/appsfile.go). One app per behaviour under test.

// main: client events on, no HTTP rate limit, history on (1000 events per
// channel, for gap-fill and SSE resume); most tests use it.
const main = {
  id: '101', key: 'key-main', secret: 'secret-main', name: 'main',
  enabled: true, enable_client_messages: true, max_backend_events_per_second: -1,
  history_max_events: 1000,
};
// counting: pusher_internal:subscription_count on; history off (the
// default), so reconnecting clients of it cannot be gap-filled.
const counting = {
  id: '102', key: 'key-count', secret: 'secret-count', name: 'counting',
  enable_client_messages: true, enable_subscription_count: true,
};
// disabled: every socket is refused with 4003, the HTTP API with 403.
const disabled = { id: '103', key: 'key-off', secret: 'secret-off', name: 'disabled', enabled: false };
// single: one concurrent connection (the next one gets 4004).
const single = { id: '104', key: 'key-single', secret: 'secret-single', name: 'single', max_connections: 1 };
// signinRequired: sockets must pusher:signin within 2 s or get 4009.
const signinRequired = {
  id: '105', key: 'key-signin', secret: 'secret-signin', name: 'signin-required',
  enable_user_authentication: true, user_authentication_timeout: 2,
};
// limited: five HTTP API events per second (then 429).
const limited = { id: '106', key: 'key-limited', secret: 'secret-limited', name: 'limited', max_backend_events_per_second: 5 };
// quiet: client events switched off.
const quiet = { id: '107', key: 'key-quiet', secret: 'secret-quiet', name: 'quiet', enable_client_messages: false };
// smallRooms: presence channels hold at most two members.
const smallRooms = {
  id: '108', key: 'key-small', secret: 'secret-small', name: 'small-rooms',
  enable_client_messages: true, max_presence_members_per_channel: 2,
};

const all = [main, counting, disabled, single, signinRequired, limited, quiet, smallRooms];
module.exports = { main, counting, disabled, single, signinRequired, limited, quiet, smallRooms, all };
