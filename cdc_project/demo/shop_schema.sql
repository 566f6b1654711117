-- The demo shop: the source database of the local stack and of docker/ (mounted into the source's initdb).
-- Its columns are chosen to exercise decoding end to end: numeric, text, boolean, date, timestamptz, jsonb,
-- arrays, columns that are often NULL, a composite primary key and a keyless table.
--
-- Idempotent: seed.py applies it to drop and recreate the demo tables. Dropping a table also removes it from
-- every publication; seed.py puts the tables back into the publications that listed them.

DROP TABLE IF EXISTS public.order_items, public.orders, public.page_views, public.products,
    public.customers, public.cdc_signals CASCADE;

CREATE TABLE public.customers (
    id           bigserial PRIMARY KEY,
    first_name   text NOT NULL,
    last_name    text NOT NULL,
    email        text NOT NULL,
    phone        text,                      -- NULL for about half the rows
    is_vip       boolean NOT NULL DEFAULT false,
    birth_date   date,                      -- NULL for about a third
    created_at   timestamptz NOT NULL DEFAULT now(),
    credit_limit numeric(12, 2),            -- NULL: no credit line
    preferences  jsonb,                     -- nested objects and arrays; NULL for some
    tags         text[],
    notes        text                       -- mostly NULL
);

CREATE TABLE public.products (
    id            serial PRIMARY KEY,       -- int4 key, where the other keys are int8
    sku           text NOT NULL UNIQUE,
    name          text NOT NULL,
    description   text,
    price         numeric(10, 2) NOT NULL CHECK (price >= 0),
    stock         integer NOT NULL DEFAULT 0 CHECK (stock >= 0),
    active        boolean NOT NULL DEFAULT true,
    attributes    jsonb NOT NULL DEFAULT '{}'::jsonb,
    dimensions_mm integer[],
    tags          text[],
    updated_at    timestamptz NOT NULL DEFAULT now()
);

-- No ON DELETE CASCADE from customers: the generator deletes only customers without orders, and RESTRICT
-- turns a violation of that rule into an error instead of a silent cascade.
CREATE TABLE public.orders (
    id          bigserial PRIMARY KEY,
    customer_id bigint NOT NULL REFERENCES public.customers (id),
    status      text NOT NULL DEFAULT 'new'
                CHECK (status IN ('new', 'paid', 'shipped', 'delivered', 'cancelled')),
    total       numeric(12, 2) NOT NULL DEFAULT 0,
    ordered_at  timestamptz NOT NULL DEFAULT now(),
    ship_date   date,                       -- NULL until shipped
    coupon      text                        -- mostly NULL
);
CREATE INDEX orders_customer_id_idx ON public.orders (customer_id);

-- Deleting an order cascades to its lines, so the change stream carries deletes the client never issued.
CREATE TABLE public.order_items (
    order_id   bigint NOT NULL REFERENCES public.orders (id) ON DELETE CASCADE,
    line_no    smallint NOT NULL,
    product_id integer NOT NULL REFERENCES public.products (id),
    quantity   integer NOT NULL CHECK (quantity > 0),
    unit_price numeric(10, 2) NOT NULL,
    discount   numeric(5, 4),               -- NULL: no discount
    PRIMARY KEY (order_id, line_no)
);

-- A clickstream without a primary key. No foreign key to customers either: deleting a customer must not
-- rewrite history rows (an ON DELETE SET NULL would turn this append-only table into one with updates).
CREATE TABLE public.page_views (
    viewed_at   timestamptz NOT NULL,
    customer_id bigint,                     -- NULL: an anonymous visitor
    url         text NOT NULL,
    referrer    text,                       -- NULL: direct traffic
    duration_ms integer
);
-- PostgreSQL refuses UPDATE and DELETE on a table without a replica identity once it is in a publication
-- that publishes them; FULL makes those statements legal (and logs the whole old row). The lake ingests this
-- table append-only.
ALTER TABLE public.page_views REPLICA IDENTITY FULL;

-- Debezium's signal table (signal.data.collection): inserting a row here asks the connector for an
-- incremental snapshot. Debezium also writes its snapshot watermarks here, so it must be in the publication.
CREATE TABLE public.cdc_signals (
    id   text PRIMARY KEY,
    type text NOT NULL,
    data text
);
