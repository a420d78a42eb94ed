//! The daemon's log lines, captured in memory so that tests can check
//! what it says (one subscriber per test process).

use std::sync::{Mutex, OnceLock};

/// The captured log; the first call installs the subscriber.
pub fn log() -> &'static Mutex<Vec<u8>> {
    static LOG: OnceLock<Mutex<Vec<u8>>> = OnceLock::new();
    LOG.get_or_init(|| {
        struct W;
        impl std::io::Write for W {
            fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
                log().lock().unwrap().extend_from_slice(b);
                Ok(b.len())
            }
            fn flush(&mut self) -> std::io::Result<()> {
                Ok(())
            }
        }
        let _ = tracing_subscriber::fmt()
            .with_ansi(false)
            .with_writer(|| W)
            .try_init();
        Mutex::new(Vec::new())
    })
}

pub fn logged() -> String {
    String::from_utf8_lossy(&log().lock().unwrap()).into_owned()
}
