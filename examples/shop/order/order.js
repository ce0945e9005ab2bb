// order: places orders. node (Debian's nodejs), `pg` from npm, and gRPC
// spoken over node's built-in http2 module (no gRPC library).
//
//   POST /orders {"item": SKU, "qty": N, "card": NUMBER}
//     -> 201 {"id", "item", "qty", "amount_cents", "charge_id"}
//     -> 401 bad token (auth) | 409 out of stock (inventory FAILED_PRECONDITION)
//     -> 404 unknown item      | 402 card declined (payment)
//   GET  /orders/{id} -> 200 the order | 404
//
// Placing an order: verify the token with auth (HTTP GET /verify), reserve
// the stock with inventory (gRPC Reserve), charge the card with payment
// (HTTP POST /charges, the order id as idempotency key), store the order in
// PostgreSQL. A declined card gives the stock back (gRPC Release).
// No tracing code: swit sees it from the kernel.
//
// Environment: ORDER_ADDR (127.0.0.1:8083), AUTH_URL (http://127.0.0.1:8081),
// PAYMENT_URL (http://127.0.0.1:8084), INVENTORY_ADDR (127.0.0.1:8085), PG_DSN.
'use strict';
const http = require('node:http');
const http2 = require('node:http2');
const crypto = require('node:crypto');
const { Pool } = require('pg');

const env = (name, def) => process.env[name] || def;
const AUTH_URL = env('AUTH_URL', 'http://127.0.0.1:8081');
const PAYMENT_URL = env('PAYMENT_URL', 'http://127.0.0.1:8084');
const INVENTORY = 'http://' + env('INVENTORY_ADDR', '127.0.0.1:8085');
const db = new Pool({ connectionString: process.env.PG_DSN, max: 4 });
// Keep-alive connections to auth and payment.
const agent = new http.Agent({ keepAlive: true, maxSockets: 8 });

class HttpError extends Error {
  constructor(status, message) { super(message); this.status = status; }
}

// One HTTP/1.1 request with a JSON body; resolves to {status, body}.
function call(url, { method = 'GET', headers = {}, body } = {}) {
  return new Promise((resolve, reject) => {
    const data = body === undefined ? undefined : Buffer.from(JSON.stringify(body));
    if (data) Object.assign(headers, { 'content-type': 'application/json', 'content-length': data.length });
    const req = http.request(url, { method, headers, agent }, (res) => {
      const chunks = [];
      res.on('data', (c) => chunks.push(c));
      res.on('end', () => {
        let parsed = null;
        try { parsed = JSON.parse(Buffer.concat(chunks)); } catch { /* not JSON */ }
        resolve({ status: res.statusCode, body: parsed });
      });
    });
    req.on('error', reject);
    req.end(data);
  });
}

// --- gRPC over http2 -------------------------------------------------------
// A gRPC unary call is an HTTP/2 POST to /Service/Method with content-type
// application/grpc(+codec) and te: trailers; the body is one message framed
// as 1 byte "compressed" flag + 4 bytes big-endian length + the message; the
// outcome is grpc-status (and grpc-message) in the trailers, or in the
// headers when the server answers with trailers only. The messages are JSON,
// as inventory's codec expects (see inventory/main.go).
const GRPC_STATUS = { 0: 'OK', 5: 'NOT_FOUND', 9: 'FAILED_PRECONDITION', 13: 'INTERNAL', 14: 'UNAVAILABLE' };
let session = null;

function grpcSession() {
  if (!session || session.closed || session.destroyed) {
    session = http2.connect(INVENTORY);
    session.on('error', () => { session = null; });
    session.on('close', () => { session = null; });
  }
  return session;
}

function grpcCall(method, message) {
  return new Promise((resolve, reject) => {
    const json = Buffer.from(JSON.stringify(message));
    const frame = Buffer.alloc(5 + json.length);
    frame.writeUInt32BE(json.length, 1); // byte 0: not compressed
    json.copy(frame, 5);
    const stream = grpcSession().request({
      ':method': 'POST',
      ':path': `/inventory.Inventory/${method}`,
      'content-type': 'application/grpc+json',
      te: 'trailers',
    });
    const chunks = [];
    let status = null, statusMessage = '';
    const take = (h) => {
      if (h['grpc-status'] !== undefined) {
        status = Number(h['grpc-status']);
        statusMessage = decodeURIComponent(h['grpc-message'] || '');
      }
    };
    stream.on('response', take);
    stream.on('trailers', take);
    stream.on('data', (c) => chunks.push(c));
    stream.on('error', reject);
    stream.on('end', () => {
      if (status === null) return reject(new Error(`gRPC ${method}: no grpc-status`));
      if (status !== 0) {
        const err = new Error(`${GRPC_STATUS[status] || status}: ${statusMessage}`);
        err.grpcStatus = status;
        return reject(err);
      }
      const body = Buffer.concat(chunks);
      resolve(JSON.parse(body.subarray(5, 5 + body.readUInt32BE(1))));
    });
    stream.end(frame);
  });
}

// --- handlers ----------------------------------------------------------------
async function verify(req) {
  const r = await call(`${AUTH_URL}/verify`, { headers: { authorization: req.headers.authorization || '' } });
  if (r.status !== 200) throw new HttpError(401, 'bad or missing token');
  return r.body.user;
}

async function placeOrder(req, input) {
  const user = await verify(req);
  const { item, qty, card } = input;
  if (typeof item !== 'string' || !Number.isInteger(qty) || qty <= 0 || typeof card !== 'string') {
    throw new HttpError(400, 'want {item, qty, card}');
  }
  let reserved;
  try {
    reserved = await grpcCall('Reserve', { item, qty });
  } catch (e) {
    if (e.grpcStatus === 9) throw new HttpError(409, `inventory: ${e.message}`);
    if (e.grpcStatus === 5) throw new HttpError(404, `inventory: ${e.message}`);
    throw new HttpError(502, `inventory: ${e.message}`);
  }
  const id = crypto.randomUUID();
  const amount = reserved.price_cents * qty;
  const charge = await call(`${PAYMENT_URL}/charges`, {
    method: 'POST',
    headers: { 'idempotency-key': id },
    body: { order: id, amount_cents: amount, card },
  });
  if (charge.status !== 201) {
    await grpcCall('Release', { item, qty }).catch(() => {});
    throw new HttpError(charge.status === 402 ? 402 : 502, `payment: ${charge.body && charge.body.error}`);
  }
  const order = { id, item, qty, amount_cents: amount, charge_id: charge.body.charge_id };
  await db.query(
    'INSERT INTO orders (id, username, sku, qty, amount_cents, charge_id) VALUES ($1, $2, $3, $4, $5, $6)',
    [id, user, item, qty, amount, order.charge_id]);
  return order;
}

async function getOrder(req, id) {
  const user = await verify(req);
  const r = await db.query(
    'SELECT id, sku AS item, qty, amount_cents, charge_id FROM orders WHERE id = $1 AND username = $2',
    [id, user]);
  if (r.rows.length === 0) throw new HttpError(404, 'no such order');
  return r.rows[0];
}

function readJson(req) {
  return new Promise((resolve) => {
    const chunks = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', () => {
      try { resolve(JSON.parse(Buffer.concat(chunks))); } catch { resolve({}); }
    });
  });
}

const server = http.createServer(async (req, res) => {
  let status = 200, body;
  try {
    const m = req.url.match(/^\/orders(?:\/([^/?]+))?$/);
    if (req.method === 'POST' && m && !m[1]) {
      body = await placeOrder(req, await readJson(req));
      status = 201;
    } else if (req.method === 'GET' && m && m[1]) {
      body = await getOrder(req, m[1]);
    } else {
      throw new HttpError(404, 'not found');
    }
  } catch (e) {
    status = e.status || 500;
    body = { error: e.message };
  }
  const data = Buffer.from(JSON.stringify(body));
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': data.length });
  res.end(data);
});

const [host, port] = env('ORDER_ADDR', '127.0.0.1:8083').split(':');
server.listen(Number(port), host, () => {
  console.log(`order listening on ${host}:${server.address().port}`);
});
