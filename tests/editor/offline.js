// Preloaded into yaml-language-server by tests/editor/lsp.py (node --require):
// the editor tests must not depend on the network, so every outbound TCP
// connection and DNS lookup fails at once and is reported on stderr as
// "[offline] refused <what>", where the tests can see that it was attempted.
'use strict';
const dns = require('dns');
const net = require('net');

const refuse = (what) => {
  process.stderr.write(`[offline] refused ${what}\n`);
  return Object.assign(new Error(`offline: ${what}`), { code: 'ENETUNREACH' });
};

const connect = net.Socket.prototype.connect;
net.Socket.prototype.connect = function (...args) {
  const options = Array.isArray(args[0]) ? args[0][0] : args[0];
  const isPipe =
    (typeof options === 'object' && options !== null && options.path) ||
    (typeof options === 'string' && Number.isNaN(Number(options)));
  if (isPipe) {
    return connect.apply(this, args); // local IPC, not the network
  }
  const target =
    typeof options === 'object' && options !== null
      ? `${options.host || 'localhost'}:${options.port}`
      : `${args[1] || 'localhost'}:${options}`;
  const error = refuse(`connect ${target}`);
  process.nextTick(() => this.destroy(error));
  return this;
};

dns.lookup = function (host, ...rest) {
  const error = refuse(`lookup ${host}`);
  const callback = rest[rest.length - 1];
  if (typeof callback === 'function') {
    process.nextTick(() => callback(error));
  }
  return {};
};
