'use strict';
// Apps used across the suites.
const main = {
  id: '101', key: 'key-main', secret: 'secret-main', name: 'main',
  enable_client_messages: true, max_backend_events_per_second: -1,
};
const counting = { id: '102', key: 'key-count', secret: 'secret-count', enable_subscription_count: true };
const disabled = { id: '103', key: 'key-off', secret: 'secret-off', enabled: false };
const single = { id: '104', key: 'key-single', secret: 'secret-single', max_connections: 1 };
const signinRequired = { id: '105', key: 'key-signin', secret: 'secret-signin', enable_user_authentication: true, user_authentication_timeout: 1 };
const limited = { id: '106', key: 'key-limited', secret: 'secret-limited', max_backend_events_per_second: 5 };
const noClientEvents = { id: '107', key: 'key-quiet', secret: 'secret-quiet' };
const all = [main, counting, disabled, single, signinRequired, limited, noClientEvents];
module.exports = { main, counting, disabled, single, signinRequired, limited, noClientEvents, all };
