//! Past one machine: several instances over PostgreSQL through PgBouncer in transaction pooling
//! mode (started by `scripts/test.sh`), selling many products at once.

mod many_products_through_pgbouncer;
