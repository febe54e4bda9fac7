-- Reference shop schema that the default mapping fits. The native stack and the
-- docker-compose stack both create it in the database `shop`.
--
-- Example row, as Debezium publishes it on shop.shop.orders (value, schemas off):
--   {"before":null,"after":{"id":1001,"customer_id":501,"status":"pending","currency":"USD",
--    "total":"F1w=","discount_code":null,"placed_at":1721035800000,"paid_at":null,...},
--    "source":{"connector":"mariadb","db":"shop","table":"orders",...},"op":"c",...}
--
-- Column types are chosen the way real shops mix them: DATETIME columns hold the
-- shop's local wall clock (the mapping names that zone), TIMESTAMP columns hold
-- instants, money is DECIMAL with at least 3 decimals on unit prices, and
-- booleans are TINYINT(1).

CREATE DATABASE IF NOT EXISTS shop CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci;
USE shop;

CREATE TABLE IF NOT EXISTS customers (
  id            BIGINT UNSIGNED NOT NULL PRIMARY KEY,
  email         VARCHAR(320) NULL,
  phone         VARCHAR(32)  NULL,
  first_name    VARCHAR(100) NULL,
  last_name     VARCHAR(100) NULL,
  country       VARCHAR(64)  NULL,
  sms_opt_in    TINYINT(1)   NOT NULL DEFAULT 0,
  email_opt_in  TINYINT(1)   NOT NULL DEFAULT 0,
  loyalty_tier  TINYINT(1)   NOT NULL DEFAULT 0,
  created_at    DATETIME(6)  NOT NULL,
  updated_at    TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3) ON UPDATE CURRENT_TIMESTAMP(3)
);

CREATE TABLE IF NOT EXISTS orders (
  id            BIGINT UNSIGNED NOT NULL PRIMARY KEY,
  customer_id   BIGINT UNSIGNED NULL,
  email         VARCHAR(320)  NULL,
  status        VARCHAR(32)   NOT NULL DEFAULT 'pending',
  currency      CHAR(3)       NOT NULL DEFAULT 'USD',
  total         DECIMAL(12,2) NOT NULL,
  discount_code VARCHAR(64)   NULL,
  placed_at     DATETIME      NOT NULL,
  paid_at       TIMESTAMP     NULL DEFAULT NULL,
  canceled_at   TIMESTAMP     NULL DEFAULT NULL,
  updated_at    DATETIME(6)   NOT NULL DEFAULT CURRENT_TIMESTAMP(6) ON UPDATE CURRENT_TIMESTAMP(6),
  attributes    JSON          NULL,
  KEY orders_customer (customer_id)
);

CREATE TABLE IF NOT EXISTS order_items (
  id            BIGINT UNSIGNED NOT NULL AUTO_INCREMENT PRIMARY KEY,
  order_id      BIGINT UNSIGNED NOT NULL,
  sku           VARCHAR(64)   NOT NULL,
  variant_id    VARCHAR(64)   NULL,
  name          VARCHAR(255)  NULL,
  category      VARCHAR(255)  NULL,
  quantity      INT           NOT NULL,
  unit_price    DECIMAL(12,3) NOT NULL,
  KEY order_items_order (order_id)
);

CREATE TABLE IF NOT EXISTS carts (
  id                   VARCHAR(64)  NOT NULL PRIMARY KEY,
  customer_id          BIGINT UNSIGNED NULL,
  status               VARCHAR(16)  NOT NULL DEFAULT 'open',
  currency             CHAR(3)      NOT NULL DEFAULT 'USD',
  checkout_started_at  DATETIME(3)  NULL,
  created_at           DATETIME(3)  NOT NULL,
  updated_at           DATETIME(3)  NOT NULL,
  KEY carts_customer (customer_id)
);

CREATE TABLE IF NOT EXISTS cart_items (
  id            BIGINT UNSIGNED NOT NULL AUTO_INCREMENT PRIMARY KEY,
  cart_id       VARCHAR(64)   NOT NULL,
  sku           VARCHAR(64)   NOT NULL,
  variant_id    VARCHAR(64)   NULL,
  name          VARCHAR(255)  NULL,
  category      VARCHAR(255)  NULL,
  quantity      INT           NOT NULL,
  unit_price    DECIMAL(12,3) NOT NULL,
  added_at      DATETIME(3)   NOT NULL,
  KEY cart_items_cart (cart_id)
);

CREATE TABLE IF NOT EXISTS fulfillments (
  id              BIGINT UNSIGNED NOT NULL AUTO_INCREMENT PRIMARY KEY,
  order_id        BIGINT UNSIGNED NOT NULL,
  status          VARCHAR(32)  NOT NULL DEFAULT 'shipped',
  carrier         VARCHAR(64)  NULL,
  tracking_number VARCHAR(64)  NULL,
  shipped_at      TIMESTAMP    NULL DEFAULT NULL,
  created_at      DATETIME     NOT NULL,
  KEY fulfillments_order (order_id)
);

CREATE TABLE IF NOT EXISTS refunds (
  id            BIGINT UNSIGNED NOT NULL AUTO_INCREMENT PRIMARY KEY,
  order_id      BIGINT UNSIGNED NULL,
  customer_id   BIGINT UNSIGNED NULL,
  amount        DECIMAL(12,3) NOT NULL,
  currency      CHAR(3)       NOT NULL DEFAULT 'USD',
  reason        VARCHAR(255)  NULL,
  created_at    DATETIME      NOT NULL,
  KEY refunds_customer (customer_id)
);

CREATE TABLE IF NOT EXISTS subscriptions (
  id            BIGINT UNSIGNED NOT NULL AUTO_INCREMENT PRIMARY KEY,
  customer_id   BIGINT UNSIGNED NOT NULL,
  plan          VARCHAR(64)   NOT NULL,
  status        VARCHAR(16)   NOT NULL DEFAULT 'active',
  price         DECIMAL(12,3) NOT NULL,
  started_at    DATETIME      NOT NULL,
  canceled_at   DATETIME      NULL,
  KEY subscriptions_customer (customer_id)
);
