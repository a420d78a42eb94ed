//! Benchmarks only: criterion benches live in `benches/`, the stream
//! comparison script in `stream-bench.sh`.
