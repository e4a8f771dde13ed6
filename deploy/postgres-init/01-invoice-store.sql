-- Run once by the postgres image on an empty data directory: the product's store gets its own
-- database beside Dagster's (POSTGRES_DB=dagster). The store creates its tables on first use.
CREATE DATABASE invoice_store;
