//! The producer's live clients against the local exchange simulator, which speaks the venues'
//! protocols and writes the ground truth of every trade it made.

mod binance;
mod capture;
mod coinbase;
mod finnhub;
mod harness;
mod logs;
