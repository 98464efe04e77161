-- Run once by the postgres image on an empty data volume (/docker-entrypoint-initdb.d): one
-- database per service on one server, as `make up` does. deploy/migrate.py then hands each to
-- its service's own role (which alone, with the relay, may connect to it) and brings every one
-- to its Alembic head as that role; it creates any database missing here too.
CREATE DATABASE auth_service;
CREATE DATABASE user_service;
CREATE DATABASE product_service;
CREATE DATABASE order_service;
CREATE DATABASE payment_service;
CREATE DATABASE notification_service;
CREATE DATABASE ops_service;
-- The payment provider stand-in keeps its charges apart from the platform, as another company would.
CREATE DATABASE payment_provider;
