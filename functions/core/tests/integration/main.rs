//! The library against real HTTP stand-ins: the golden CSV through the CMC client, and
//! the Binance kline client, backfills from the archive. One test binary, like every crate's.

mod backfill;
mod binance_client;
mod emf;
mod golden_csv;
