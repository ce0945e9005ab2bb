-- The shop's tables and seed data. Resets the tables every time it is applied.
-- Passwords are stored as hex(sha256(salt || password)): stdlib-only in Python
-- and Go, and PostgreSQL computes the seed hashes itself.
SET client_min_messages = warning;
DROP TABLE IF EXISTS orders, items, users;

CREATE TABLE users (
    id            serial PRIMARY KEY,
    name          text NOT NULL UNIQUE,
    email         text NOT NULL,
    salt          text NOT NULL,
    password_hash text NOT NULL
);

CREATE TABLE items (
    sku         text PRIMARY KEY,
    name        text NOT NULL,
    price_cents int  NOT NULL,
    stock       int  NOT NULL CHECK (stock >= 0)
);

CREATE TABLE orders (
    id           text PRIMARY KEY,  -- a UUID chosen by the order service
    username     text NOT NULL,
    sku          text NOT NULL REFERENCES items,
    qty          int  NOT NULL,
    amount_cents int  NOT NULL,
    charge_id    text NOT NULL,
    created_at   timestamptz NOT NULL DEFAULT now()
);

-- Known users: alice / alice-pw, bob / bob-pw, carol / carol-pw.
INSERT INTO users (name, email, salt, password_hash)
SELECT name, name || '@shop.example', salt,
       encode(sha256(convert_to(salt || name || '-pw', 'UTF8')), 'hex')
FROM (VALUES ('alice', 'q7Fz'), ('bob', 'Lm2x'), ('carol', 'Rt9k')) AS u(name, salt);

-- sold-out has no stock: reserving it fails with FAILED_PRECONDITION.
INSERT INTO items (sku, name, price_cents, stock) VALUES
    ('widget',   'Widget',        1250, 1000000),
    ('gadget',   'Gadget',        4999, 1000000),
    ('sold-out', 'Sold-out thing', 999, 0);
