-- The same schema on source and target; ferry replicates rows, not DDL.
CREATE SCHEMA app;
CREATE TABLE app.customers (
  id      bigint PRIMARY KEY,
  name    text NOT NULL,
  email   text,
  created timestamptz NOT NULL DEFAULT now()
);
CREATE TABLE app.orders (
  id          bigserial PRIMARY KEY,
  customer_id bigint NOT NULL,
  amount      numeric(12,2) NOT NULL,
  status      text NOT NULL DEFAULT 'new',
  placed_at   timestamptz NOT NULL DEFAULT now()
);
